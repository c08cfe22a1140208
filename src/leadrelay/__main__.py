"""``python -m leadrelay`` and the ``leadrelay`` command.

The CLI's modules (leadrelay's and its libraries': SQLAlchemy, aiohttp, pydantic …) are imported with the
cyclic garbage collector off, and what they made is then frozen out of it (``gc.freeze``). An import
allocates some 220,000 objects that all live on: the collector would traverse them again and again while
they are being made, and once more in full when it is turned back on. Ten runs of
`python -c "import leadrelay.entrypoints.cli"` took 9.5-11.5 s of CPU, and 6.4-6.5 s this way: a third
off every command's start, every worker process's too. What the imports left as cyclic garbage (about
2,000 objects) is kept.
"""

from __future__ import annotations

import gc


def run() -> None:
    gc.disable()
    try:
        from leadrelay.entrypoints.cli import main
    finally:
        gc.freeze()
        gc.enable()
    main()


if __name__ == "__main__":
    run()
