"""Copies each chart's generated value tables into the root README, between its markers.

readme-generator-for-helm writes one table section per README; the root README shows the tables of every
chart, so this copies the `## Parameters` part of each chart README (headings one level down) between
`<!-- values:<chart>:start -->` and `<!-- values:<chart>:end -->`. With --check it changes nothing and
exits 1 when the root README is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ["triton-stack", "triton-server"]


def chart_tables(chart: str) -> str:
    readme = (ROOT / "charts" / chart / "README.md").read_text()
    tables = readme.split("## Parameters", 1)[1].strip()
    return re.sub(r"^### ", "#### ", tables, flags=re.MULTILINE)


def synced(readme: str) -> str:
    for chart in CHARTS:
        start, end = f"<!-- values:{chart}:start -->", f"<!-- values:{chart}:end -->"
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), flags=re.DOTALL)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no {start} ... {end} markers")
        readme = pattern.sub(lambda _: f"{start}\n{chart_tables(chart)}\n{end}", readme)
    return readme


def main() -> int:
    path = ROOT / "README.md"
    current = path.read_text()
    wanted = synced(current)
    if "--check" in sys.argv:
        if wanted != current:
            print("README.md value tables are stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
