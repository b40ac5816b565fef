"""Copy the pinned npm front-end files into src/web/static/vendor, or check them.

    npm ci && python scripts/vendor_assets.py          # refresh the served copies
    npm ci && python scripts/vendor_assets.py --check  # CI: the copies match the pins

The served copies are committed so that `crm serve` needs only Python; the
versions come from package.json/package-lock.json, and CI checks they match.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "src" / "web" / "static" / "vendor"
FILES = {
    "htmx.min.js": ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js",
    "Sortable.min.js": ROOT / "node_modules" / "sortablejs" / "Sortable.min.js",
    "chart.umd.min.js": ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js",
}


def main(argv: list[str]) -> int:
    missing = [str(source) for source in FILES.values() if not source.exists()]
    if missing:
        print("Lancez d’abord `npm ci` :", ", ".join(missing))
        return 1
    if "--check" in argv:
        stale = [
            name
            for name, source in FILES.items()
            if not (VENDOR / name).exists() or not filecmp.cmp(source, VENDOR / name, shallow=False)
        ]
        if stale:
            print("Copies périmées dans src/web/static/vendor :", ", ".join(stale))
            return 1
        return 0
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name, source in FILES.items():
        shutil.copyfile(source, VENDOR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
