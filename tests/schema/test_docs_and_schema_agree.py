"""One source for documentation and schema.

The `## @param` comments in each chart's values.yaml are the source. @bitnami/readme-generator-for-helm turns
them into the README value tables (and a loose schema of the documented values and their types); these tests
fail when the committed README tables, the strict values.schema.json and values.yaml disagree.
"""

import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from ci.docs import real_defaults
from tests.harness.render import CHARTS_DIR, REPO_ROOT

README_GENERATOR = REPO_ROOT / "node_modules" / ".bin" / "readme-generator"
DOCUMENTED_CHARTS = ["triton-server", "triton-stack", "triton-routing", "triton-loadtest", "triton-batch", "triton-monitoring", "triton-logging"]
# Keys Helm adds for dependencies: schema-only, never documented as values.
DEPENDENCY_KEYS = {"triton-common"}


@functools.lru_cache(maxsize=None)
def generated(chart: str) -> tuple[str, str]:
    """readme-generator's README and loose schema for a chart, run once per chart per session."""
    with tempfile.TemporaryDirectory() as workdir:
        readme, schema = _generate(chart, Path(workdir))
        return readme, json.dumps(schema)


def generate(chart: str, _tmp_path=None) -> tuple[str, dict]:
    readme, schema = generated(chart)
    return readme, json.loads(schema)


def _generate(chart: str, tmp_path: Path) -> tuple[str, dict]:
    """Runs readme-generator on a copy of the chart's README; returns the new README and its schema."""
    readme = tmp_path / "README.md"
    shutil.copy(CHARTS_DIR / chart / "README.md", readme)
    schema = tmp_path / "schema.json"
    completed = subprocess.run(
        [str(README_GENERATOR), "--values", str(CHARTS_DIR / chart / "values.yaml"), "--readme", str(readme), "--schema", str(schema)],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # `make docs` then writes the real defaults of [array]/[object] values into the table (ci/docs/real_defaults.py).
    values = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text()) or {}
    return real_defaults.with_real_defaults(readme.read_text(), values), json.loads(schema.read_text())


def documented_names(readme: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)`", readme, flags=re.MULTILINE))


def strict_leaves(schema: dict, prefix: str = "") -> dict[str, dict]:
    """Dotted path -> schema node, for every node that has no properties of its own. An object documented as
    a whole (resources: a Kubernetes shape) is a $ref to a definition, so it counts as one leaf."""
    leaves = {}
    for name, node in schema.get("properties", {}).items():
        if not prefix and name in DEPENDENCY_KEYS:
            continue
        path = f"{prefix}{name}"
        if "properties" in node:
            leaves.update(strict_leaves(node, f"{path}."))
        else:
            leaves[path] = node
    return leaves


def loose_leaves(schema: dict, prefix: str = "") -> dict[str, str]:
    leaves = {}
    for name, node in schema.get("properties", {}).items():
        if node.get("type") == "object" and "properties" in node:
            leaves.update(loose_leaves(node, f"{prefix}{name}."))
        else:
            leaves[f"{prefix}{name}"] = node.get("type")
    return leaves


def strict_schema(chart: str) -> dict:
    return json.loads((CHARTS_DIR / chart / "values.schema.json").read_text())


@pytest.mark.parametrize("chart", DOCUMENTED_CHARTS)
def test_readme_tables_are_generated_from_values(chart, tmp_path):
    regenerated, _ = generate(chart, tmp_path)
    assert regenerated == (CHARTS_DIR / chart / "README.md").read_text(), f"run `make docs`: {chart}/README.md is stale"


@pytest.mark.parametrize("chart", DOCUMENTED_CHARTS)
def test_every_documented_value_is_in_the_strict_schema_and_back(chart, tmp_path):
    readme, _ = generate(chart, tmp_path)
    documented = documented_names(readme)
    in_schema = set(strict_leaves(strict_schema(chart)))
    assert {"documented, not in schema": documented - in_schema, "in schema, undocumented": in_schema - documented} == {
        "documented, not in schema": set(), "in schema, undocumented": set()
    }


@pytest.mark.parametrize("chart", DOCUMENTED_CHARTS)
def test_documented_types_match_the_strict_schema(chart, tmp_path):
    _, loose = generate(chart, tmp_path)
    schema = strict_schema(chart)
    strict = strict_leaves(schema)
    compatible = {"number": {"integer", "number"}, "string": {"string"}, "boolean": {"boolean"}, "array": {"array"}, "object": {"object"}}
    mismatched = {}
    for path, loose_type in loose_leaves(loose).items():
        node = strict.get(path, {})
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        strict_types = {node["type"]} if "type" in node else {o.get("type") for o in node.get("oneOf", [])}
        if loose_type and not compatible.get(loose_type, {loose_type}) & strict_types:
            mismatched[path] = (loose_type, sorted(t for t in strict_types if t))
    assert mismatched == {}


@pytest.mark.parametrize("chart", ["triton-common", *DOCUMENTED_CHARTS])
def test_chart_defaults_meet_their_own_schema(chart):
    values = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text()) or {}
    jsonschema.Draft7Validator(strict_schema(chart)).validate(values)


@pytest.mark.parametrize("chart", DOCUMENTED_CHARTS)
def test_schema_objects_the_chart_owns_are_closed(chart):
    def open_objects(node, path="$"):
        found = []
        # An explicit additionalProperties: true is a subchart's section, checked by that chart's own schema.
        if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
            found.append(path)
        for name, child in node.get("properties", {}).items():
            found += open_objects(child, f"{path}.{name}")
        return found

    schema = strict_schema(chart)
    # global is shared with every subchart, so it must stay open for keys other charts add
    assert [p for p in open_objects(schema) if p != "$.global"] == []


def test_drift_is_detected(tmp_path):
    # The negative pair: an undocumented value in a copy of the chart is caught.
    chart = tmp_path / "triton-server"
    shutil.copytree(CHARTS_DIR / "triton-server", chart, ignore=shutil.ignore_patterns("charts"))
    values = chart / "values.yaml"
    values.write_text(values.read_text() + "\nundocumentedValue: 1\n")
    completed = subprocess.run(
        [str(README_GENERATOR), "--values", str(values), "--readme", str(chart / "README.md")], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode != 0
    assert "undocumentedValue" in completed.stdout + completed.stderr


def test_root_readme_shows_the_current_tables():
    completed = subprocess.run([sys.executable, "-m", "ci.docs.sync_readme", "--check"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr
