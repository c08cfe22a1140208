"""python -m leadrelay"""

from leadrelay.entrypoints.cli import main

main()
