"""ci/docs/real_defaults.py: the chart READMEs show what a list or map value really defaults to."""

import pytest

from ci.docs import real_defaults
from tests.harness import render as helm

pytestmark = pytest.mark.render

TABLE = """### Section

| Name | Description | Value |
| --- | --- | --- |
| `a.list` | A list | `[]` |
| `a.empty` | An empty list | `[]` |
| `a.map` | A map | `{}` |
| `a.scalar` | A scalar | `1` |
"""


def test_non_empty_lists_and_maps_get_their_defaults_and_empty_ones_stay():
    out = real_defaults.with_real_defaults(TABLE, {"a": {"list": ["x", "y|z"], "empty": [], "map": {"k": "v"}, "scalar": 1}})
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| `")}
    assert rows["`a.list`"].rstrip(" |").endswith('`["x", "y\\|z"]`')  # a | in a cell is escaped
    assert rows["`a.empty`"].rstrip(" |").endswith("`[]`")
    assert rows["`a.map`"].rstrip(" |").endswith('`{"k": "v"}`')
    assert len({len(line) for line in out.splitlines() if line.startswith("|")}) == 1, "the table is re-padded"
    assert real_defaults.with_real_defaults(out, {"a": {"list": ["x", "y|z"], "empty": [], "map": {"k": "v"}, "scalar": 1}}) == out


def test_a_long_default_is_cut():
    cut = real_defaults.inline(list(range(200)))
    assert len(cut) == real_defaults.MAX_CELL and cut.endswith("… (values.yaml)")


def test_the_server_readme_shows_the_restricted_categories():
    readme = (helm.CHARTS_DIR / "triton-server" / "README.md").read_text()
    assert '`["model-repository", "model-config", "shared-memory", "statistics", "trace", "logging"]`' in readme
