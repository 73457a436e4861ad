"""The values a user must replace in an environment file before installing it: marked in the file itself with a
`# REPLACE: <what to put>` comment on the key's line, and listed in docs/install.md.

    .venv/bin/python -m ci.docs.placeholders values/prod.yaml     # the marked paths, one per line

The marks are read from PyYAML's node tree (a key's line number gives its dotted path; list items as `[i]`), so a
comment on a mapping key marks the whole section under it (`products:`, `inferenceFrom:`). A value that looks like
an example (the AWS documentation account 123456789012, `acme-`, `example.com`) must sit under a mark:
tests/lint/test_install_guide.py fails otherwise, so an example can never ship unmarked.

Why not ruamel.yaml's comment API: its comment attachment differs between block and flow nodes and between
versions; a line number per key is all that is needed, and PyYAML (already a dependency) gives it exactly.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

MARK = re.compile(r"#\s*REPLACE:\s*(?P<note>.+?)\s*$")
# Values that are examples, never real: the AWS documentation account, the example company, reserved domains.
EXAMPLE_VALUE = re.compile(r"123456789012|\bacme-|\bexample\.(?:com|org|net)\b")


def _walk(node: yaml.Node, path: str, keys: dict[int, str], scalars: list[tuple[str, str]]) -> None:
    """Records the line of every mapping key (0-based) -> dotted path, and every scalar value with its path."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            keys.setdefault(key.start_mark.line, child)
            _walk(value, child, keys, scalars)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            if isinstance(item, yaml.ScalarNode):
                keys.setdefault(item.start_mark.line, child)
            _walk(item, child, keys, scalars)
    elif isinstance(node, yaml.ScalarNode):
        scalars.append((path, node.value))


def marked_paths(text: str) -> dict[str, str]:
    """{dotted value path: what to put there} for every `# REPLACE:` comment; raises ValueError for a mark on a
    line that holds no key (a mark must name the value it is about)."""
    root = yaml.compose(text)
    keys: dict[int, str] = {}
    _walk(root, "", keys, [])
    marks = {}
    for number, line in enumerate(text.splitlines()):
        found = MARK.search(line)
        if not found:
            continue
        if number not in keys:
            raise ValueError(f"line {number + 1}: a REPLACE mark on a line without a key: {line.strip()!r}")
        marks[keys[number]] = found.group("note")
    return marks


def unmarked_examples(text: str) -> list[str]:
    """`path: value` for every example-looking value that no mark covers (the path itself or a section above it)."""
    marks = marked_paths(text)
    keys: dict[int, str] = {}
    scalars: list[tuple[str, str]] = []
    _walk(yaml.compose(text), "", keys, scalars)

    def covered(path: str) -> bool:
        return any(path == marked or path.startswith(marked + ".") or path.startswith(marked + "[") for marked in marks)

    return [f"{path}: {value}" for path, value in scalars if EXAMPLE_VALUE.search(value) and not covered(path)]


def main(argv: list[str]) -> int:
    for name in argv:
        for path, note in marked_paths(Path(name).read_text()).items():
            print(f"{name}: {path}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
