"""The README's two console screenshots, from the browser tests' artifacts: the distribution log with its
drawer open (``test_console_story``) and the dashboard over the seeded day (``test_accessibility``), both
at the tests' 1280x800 viewport. Each is reduced to a 256-colour palette (Pillow, which fpdf2 brings
already) and written to ``docs/screenshots``::

    PYTHONPATH=src python -m pytest tests/browser/test_console_story.py \\
        tests/browser/test_accessibility.py -k "story or refreshes"
    python -m tests.browser.readme_screenshots
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from tests.browser.conftest import ARTIFACTS
from tests.support import ROOT

SHOTS = {  # the artifact: the README's file
    "story-log-drawer.png": "console-log-drawer.png",
    "dashboard-day-viewport.png": "console-dashboard.png",
}
TARGET = ROOT / "docs" / "screenshots"


def small_png(source: Path, target: Path) -> int:
    """The screenshot as a palette PNG (screenshots of flat UI lose nothing visible); its size in bytes."""
    with Image.open(source) as image:
        paletted = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=0)
        paletted.save(target, optimize=True)
    return target.stat().st_size


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    missing = [name for name in SHOTS if not (ARTIFACTS / name).exists()]
    if missing:
        print(f"run the browser tests first: no {', '.join(missing)} in {ARTIFACTS}", file=sys.stderr)
        return 1
    for name, readme in SHOTS.items():
        size = small_png(ARTIFACTS / name, TARGET / readme)
        print(f"{TARGET / readme}: {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
