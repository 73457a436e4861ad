"""Reads helm's render errors as the value paths they name, in either Helm error format.

Schema errors: Helm <= 3.18 (gojsonschema) prints `- replicaCount: Invalid type...`, Helm >= 3.19 and 4
(santhosh-tekuri/jsonschema) print `- at '/replicaCount': got string, want integer`, each under a line naming
the chart (the umbrella's name, or a subchart's alias). Template failures (`fail`) print our own
`<value.path>: <what to do>` after `execution error at (...)`. Both come out as dotted paths from the
umbrella's root, so a test asserts on `server.replicaCount` whichever Helm ran.
"""

from __future__ import annotations

import re

SCHEMA_HEADER = "values don't meet the specifications of the schema(s)"
_CHART_LINE = re.compile(r"^([A-Za-z0-9_.-]+):$")
_NEW_FORMAT = re.compile(r"^- at '(?P<path>[^']*)': (?P<message>.*)$")
_OLD_FORMAT = re.compile(r"^- (?P<path>[^:]+): (?P<message>.*)$")
_ADDITIONAL_NEW = re.compile(r"additional propert(?:y|ies) (?P<names>.+) not allowed")
_ADDITIONAL_OLD = re.compile(r"Additional property (?P<name>\S+) is not allowed")
_FAIL_LINE = re.compile(r"^(?P<path>[A-Za-z][A-Za-z0-9_.\-/]*): (?P<message>.+)$")


def _dotted(prefix: str, path: str, *, key: str = "") -> str:
    """'/a/b' (new format) or 'a.b' (old format), plus an offending key kept whole (it may hold dots)."""
    separator = "/" if path.startswith("/") or path == "" else "."
    parts = [p for p in path.strip("/").split(separator) if p and p != "(root)"]
    return ".".join(([prefix] if prefix else []) + parts + ([key] if key else []))


def error_lines(stderr: str, root_chart: str) -> set[tuple[str, str]]:
    """(value path, message) for every problem helm reported. root_chart is the chart that was rendered:
    its section header adds no prefix, a subchart's header (its alias) does."""
    lines = stderr.splitlines()
    found: set[tuple[str, str]] = set()
    if any(SCHEMA_HEADER in line for line in lines):
        prefix = ""
        for line in lines:
            chart = _CHART_LINE.match(line.strip())
            if chart:
                prefix = "" if chart.group(1) == root_chart else chart.group(1)
                continue
            match = _NEW_FORMAT.match(line.strip()) or _OLD_FORMAT.match(line.strip())
            if not match:
                continue
            path, message = match.group("path"), match.group("message")
            extra_new, extra_old = _ADDITIONAL_NEW.search(message), _ADDITIONAL_OLD.search(message)
            if extra_new:
                for name in re.findall(r"'([^']+)'", extra_new.group("names")):
                    found.add((_dotted(prefix, path, key=name), "unknown key"))
            elif extra_old:
                found.add((_dotted(prefix, path, key=extra_old.group("name")), "unknown key"))
            else:
                found.add((_dotted(prefix, path), message))
        return found
    after_execution_error = False
    for line in lines:
        if "execution error at" in line:
            after_execution_error = True
            continue
        match = _FAIL_LINE.match(line.strip()) if after_execution_error else None
        if match:
            found.add((match.group("path"), match.group("message")))
    return found


def error_paths(stderr: str, root_chart: str) -> set[str]:
    return {path for path, _ in error_lines(stderr, root_chart)}
