"""`null` never reaches a template. In Helm a `null` value (or a section whose entries are all commented out, which
YAML reads as null) deletes the chart's default, and a template that reads under it stops with a Go error such as
`nil pointer evaluating interface {}.startup`. Every object and scalar key of every chart's values.yaml is nulled
one at a time; each must either render cleanly (no `<nil>` or `%!` printed into an object) or fail with an error
that names the key: the schema's `missing property '<key>'` (the section is `required`) or a chart `fail`.

Cost: a key that the chart's schema already refuses (jsonschema over Helm's coalesced values says `'<key>' is a
required property`) is not rendered again: Helm validates the same schema before any template runs. One
representative per chart of those is rendered with the real Helm to prove the message; every key the schema lets
through is rendered with the real Helm, since that is where a template can crash.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.harness import render as helm

pytestmark = pytest.mark.render

CHARTS = ("triton-server", "triton-routing", "triton-batch", "triton-monitoring", "triton-logging", "triton-loadtest", "triton-stack")
# The umbrella's sections that are subcharts: the keys under them are swept with the subchart itself. Nulling a
# section whose subchart is off by default (`batch:` with its entries commented out) once switched it on: Helm
# refilled it with the subchart's own default `enabled: true`.
SUBCHART_SECTIONS = {"server", "routing", "batch", "monitoring", "logging"}
# What Go's text/template prints for a missing value, and fmt's marker of a bad verb argument.
NIL_MARKERS = ("<nil>", "%!")
# Go text/template's own errors (a chart's `fail` reads "execution error at (...): <message>" instead).
GO_TEMPLATE_ERRORS = ("nil pointer evaluating", "error calling", "can't evaluate field", "wrong type for value", "invalid value; expected")


def _key_paths(values: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key of every mapping (not inside lists), depth first."""
    paths = []
    for key, value in values.items():
        paths.append((*prefix, key))
        if isinstance(value, dict):
            paths += _key_paths(value, (*prefix, key))
    return paths


def _defaults(chart: str) -> dict:
    return yaml.safe_load((helm.CHARTS_DIR / chart / "values.yaml").read_text()) or {}


def swept_paths(chart: str) -> list[tuple[str, ...]]:
    paths = _key_paths(_defaults(chart))
    if chart == "triton-stack":
        # A subchart section itself (`batch: null`) is the umbrella's; the keys under it are swept with the subchart.
        paths = [path for path in paths if path[0] not in SUBCHART_SECTIONS or len(path) == 1]
    return paths


def _nulled(path: tuple[str, ...]) -> dict:
    values: dict = None  # type: ignore[assignment]
    for key in reversed(path):
        values = {key: values}
    return values


def _without(defaults: dict, path: tuple[str, ...]) -> dict:
    """Helm's coalescing of {path: null} over the defaults: the key is gone."""
    values = copy.deepcopy(defaults)
    parent = values
    for key in path[:-1]:
        parent = parent[key]
    parent.pop(path[-1])
    return values


def schema_refuses(chart: str, path: tuple[str, ...]) -> bool:
    """True when the chart's schema reports the nulled key as a missing required property at its parent."""
    schema = json.loads((helm.CHARTS_DIR / chart / "values.schema.json").read_text())
    for error in jsonschema.Draft7Validator(schema).iter_errors(_without(_defaults(chart), path)):
        if error.validator == "required" and tuple(map(str, error.absolute_path)) == path[:-1] and f"'{path[-1]}'" in error.message:
            return True
    return False


def judge_error(path: tuple[str, ...], message: str) -> str | None:
    """None when Helm's error names the nulled key (or the section its removal left invalid); else the problem."""
    dotted = ".".join(path)
    crash = [line.strip() for line in message.splitlines() if any(sign in line for sign in GO_TEMPLATE_ERRORS)]
    if crash:
        return f"{dotted}: null crashes a template: {crash[0]}"
    # The key itself (`missing property 'probes'`, a chart's fail naming server.probes), or the section that the
    # removal left invalid (`at '/gateway/selector': minProperties`).
    parent_pointer = "'/" + "/".join(path[:-1]) + "'"
    if f"'{path[-1]}'" in message or dotted in message or (len(path) > 1 and parent_pointer in message):
        return None
    return f"{dotted}: the error does not name the key: {message.strip()[:300]}"


def render_outcome(chart: str, path: tuple[str, ...]) -> str | None:
    """None when the nulled key renders cleanly or fails naming the key; otherwise what went wrong."""
    try:
        objects = helm.render(chart, values=_nulled(path))
    except helm.HelmError as error:
        return judge_error(path, error.stderr)
    text = yaml.safe_dump_all(objects)
    for marker in NIL_MARKERS:
        if marker in text:
            return f"{'.'.join(path)}: null renders {marker!r} into an object"
    return None


@pytest.mark.parametrize("chart", CHARTS)
def test_every_nulled_key_renders_or_is_refused_by_name(chart):
    problems = []
    refused = []
    for path in swept_paths(chart):
        if schema_refuses(chart, path):
            refused.append(path)
            continue
        problem = render_outcome(chart, path)
        if problem:
            problems.append(problem)
    # The schema's refusal, proven once per chart with the real Helm: it names the key.
    for path in refused[:1]:
        with pytest.raises(helm.HelmError, match=rf"missing propert(y|ies) '{path[-1]}'"):
            helm.render(chart, values=_nulled(path))
    assert problems == [], "\n".join(problems)


def test_the_sweep_sees_a_crash(tmp_path):
    """The negative pair: a copy of the server chart whose schema no longer requires `probes` crashes on
    `probes: null`, and the sweep's judgement says so; the real chart refuses it by name."""
    copy_dir = tmp_path / "triton-server"
    shutil.copytree(helm.CHARTS_DIR / "triton-server", copy_dir)
    schema_file = copy_dir / "values.schema.json"
    schema = json.loads(schema_file.read_text())
    schema["required"].remove("probes")
    schema_file.write_text(json.dumps(schema))
    values = tmp_path / "null.yaml"
    values.write_text("probes: null\n")
    with pytest.raises(helm.HelmError) as crashed:
        helm._run(helm.default_helm(), ["template", "t", str(copy_dir), "--values", str(values)])
    assert judge_error(("probes",), crashed.value.stderr).startswith("probes: null crashes a template: ")
    assert render_outcome("triton-server", ("probes",)) is None


@pytest.mark.parametrize("path", [("probes",), ("probes", "startup")])
def test_a_removed_section_is_named_by_helm(path):
    with pytest.raises(helm.HelmError, match=rf"missing property '{path[-1]}'"):
        helm.render("triton-server", values=_nulled(path))


@pytest.mark.parametrize("section", sorted(SUBCHART_SECTIONS - {"server"}))
@pytest.mark.parametrize("helm_major", helm.HELM_MAJORS)
def test_a_nulled_component_section_is_refused_not_switched_on(section, helm_major):
    """`batch:` with every entry commented out is `batch: null`: refused by name, never rendered with defaults."""
    with pytest.raises(helm.HelmError, match=rf"missing propert(y|ies) '{section}'"):
        helm.render("triton-stack", values={section: None}, helm=helm_major)
