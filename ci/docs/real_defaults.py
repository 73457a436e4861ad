"""Real defaults in the chart READMEs' value tables. readme-generator-for-helm writes `[]` or `{}` for every value
marked `[array]` or `[object]`, whatever the default holds (its `--values` reading stops at the modifier), so a
reader of `adminApi.categories` would think nothing is restricted by default. This rewrites those cells with the
default read from the chart's values.yaml, as compact inline YAML, and re-pads each table the way
readme-generator lays it out (so a second `make docs` changes nothing).

    .venv/bin/python -m ci.docs.real_defaults charts/triton-server     # rewrite its README.md in place

Written here because readme-generator has no option for it (its `[array]` modifier sets the default to `[]`,
readme-generator-for-helm lib/parser.js), and a table rewrite is a few lines.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

# The longest default shown in full; longer ones are cut with a pointer to values.yaml.
MAX_CELL = 120
CUT = "… (values.yaml)"
_ROW = re.compile(r"^\|.*\|$")


def _lookup(values: dict, dotted: str):
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def inline(value) -> str:
    """A default as one line of YAML flow style: ["a", "b"], {cpu: "1"}; cut at MAX_CELL characters."""
    text = json.dumps(value, separators=(", ", ": "))
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - len(CUT)] + CUT
    return text.replace("|", "\\|")


def _pad(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows if not set(row[i]) <= {"-"}) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        if all(set(cell) <= {"-"} and cell for cell in row):
            lines.append("| " + " | ".join("-" * width for width in widths) + " |")
        else:
            lines.append("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
    return lines


def _cells(line: str) -> list[str]:
    # Split on | not escaped as \|.
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def with_real_defaults(readme: str, values: dict) -> str:
    """The README with each `[]`/`{}` default cell replaced by the non-empty default values.yaml holds."""
    lines = readme.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        if not _ROW.match(lines[index]):
            out.append(lines[index])
            index += 1
            continue
        block = []
        while index < len(lines) and _ROW.match(lines[index]):
            block.append(_cells(lines[index]))
            index += 1
        header = block[0]
        if header[:1] == ["Name"] and header[-1:] == ["Value"]:
            for row in block[2:]:
                name = row[0].strip("`")
                if row[-1] in ("`[]`", "`{}`"):
                    default = _lookup(values, name)
                    if default:
                        row[-1] = f"`{inline(default)}`"
            out += _pad(block)
        else:
            out += ["| " + " | ".join(row) + " |" for row in block]
    return "\n".join(out)


def rewrite(chart_dir: Path) -> bool:
    """Rewrites chart_dir/README.md; True when it changed."""
    readme = chart_dir / "README.md"
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    before = readme.read_text()
    after = with_real_defaults(before, values)
    if after != before:
        readme.write_text(after)
    return after != before


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        rewrite(Path(argument))
