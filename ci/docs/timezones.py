"""Writes the IANA time zone names into the schemas of the values that take one, as an enum.

A name that only looks right (`America/NewYork`) passes a pattern, renders, and fails later: KEDA's cron scaler
errors on every poll (time.LoadLocation), the API server refuses a CronJob's timeZone. The list comes from the
`tzdata` package pinned in requirements.txt (the IANA database as Python ships it); tests/schema checks the
schemas against it, and this module rewrites them when the pin moves:

    .venv/bin/python -m ci.docs.timezones
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# (chart, JSON path in its values.schema.json, names allowed besides the zones: "" is "the controller's zone")
TIMEZONE_VALUES = (
    ("triton-server", ("properties", "autoscaling", "properties", "scheduled", "properties", "timezone"), ()),
    ("triton-batch", ("properties", "timeZone"), ("",)),
)


def zones() -> list[str]:
    """Every zone name of the pinned tzdata, sorted (UTC and Etc/* included)."""
    return sorted(importlib.resources.files("tzdata").joinpath("zones").read_text().split())


def schema_node(schema: dict, path: tuple[str, ...]) -> dict:
    node = schema
    for key in path:
        node = node[key]
    return node


def write() -> None:
    for chart, path, extra in TIMEZONE_VALUES:
        schema_file = ROOT / "charts" / chart / "values.schema.json"
        schema = json.loads(schema_file.read_text())
        node = schema_node(schema, path)
        node.pop("pattern", None)
        node["enum"] = [*extra, *zones()]
        schema_file.write_text(json.dumps(schema, indent=2) + "\n")


if __name__ == "__main__":
    write()
