"""The mutation catalogue of `make mutate` stays applicable: every entry is well formed, its text is found
exactly once in its file, and applying it changes that file (and only in a copy, never the checkout)."""

import json
import shutil

import pytest

from tests.harness import mutations
from tests.harness.render import REPO_ROOT

pytestmark = pytest.mark.render

CATALOGUE = mutations.load()


def test_every_template_file_has_a_mutation():
    # validate.yaml only calls the umbrella's checks, which are mutated in its _validate.tpl.
    templates = {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "charts").glob("*/templates/**/*") if p.is_file()}
    assert templates - {m.file for m in CATALOGUE} == {"charts/triton-stack/templates/validate.yaml"}


@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.id)
def test_text_to_find_is_in_its_file_exactly_once(mutation):
    assert mutation.occurrences() == 1, f"{mutation.id} is stale: update its find text to the template as it is now"


def test_a_mutation_applies_to_a_copy_and_refuses_the_checkout(tmp_path):
    mutation = CATALOGUE[0]
    with pytest.raises(mutations.CatalogueError, match="refusing to mutate the checkout"):
        mutation.apply(REPO_ROOT)
    copy = tmp_path / mutation.file
    copy.parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / mutation.file, copy)
    mutation.apply(tmp_path)
    assert copy.read_text() == (REPO_ROOT / mutation.file).read_text().replace(mutation.find, mutation.replace)
    with pytest.raises(mutations.CatalogueError, match="stale"):
        mutations.Mutation(**{**mutation.__dict__, "find": "text that no template holds"}).apply(tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "x-y", "file": "f", "find": "a", "replace": "a", "why": "it would break the release badly"}, "changes nothing"),
        ({"id": "x-y", "file": "f", "find": "a", "replace": "b"}, "missing \\['why'\\]"),
        ({"id": "x-y", "file": "f", "find": "a", "replace": "b", "why": "bad"}, "why must say why"),
        ({"id": "X Y", "file": "f", "find": "a", "replace": "b", "why": "it would break the release badly"}, "ids are unique"),
        ({"id": "x-y", "file": "f", "find": "a", "replace": "b", "why": "it would break the release badly", "accepted_survivor": "fine"}, "accepted_survivor must say why"),
        ({"id": "x-y", "file": "f", "find": "a", "replace": None, "why": "it would break the release badly"}, "quoted text"),
        ({"id": "x-y", "file": "f", "find": 46, "replace": "0x2E", "why": "it would break the release badly"}, "quoted text"),
        ({"id": "x-y", "file": "f", "find": "", "replace": "b", "why": "it would break the release badly"}, "find not empty"),
    ],
    ids=["no-op", "no-why", "short-why", "bad-id", "short-acceptance", "empty-replace", "number", "empty-find"],
)
def test_malformed_entries_are_refused(tmp_path, entry, message):
    import yaml

    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"mutations": [entry]}))
    with pytest.raises(mutations.CatalogueError, match=message):
        mutations.load(path)


FAILED_OUTPUT = "..F\nFAILED tests/render/test_selectors.py::test_x[prod] - AssertionError\n3 passed"


@pytest.mark.parametrize(
    ("code", "output", "accepted", "result", "detail"),
    [
        (1, FAILED_OUTPUT, None, "killed", "tests/render/test_selectors.py::test_x[prod]"),
        (2, FAILED_OUTPUT.replace("FAILED", "ERROR"), None, "killed", "tests/render/test_selectors.py::test_x[prod]"),  # not collected
        (2, "3 passed", None, "broken", "pytest exited 2: 3 passed"),  # exit 2 naming no test
        (2, FAILED_OUTPUT + "\n!!! KeyboardInterrupt !!!", None, "broken", "pytest exited 2: !!! KeyboardInterrupt !!!"),
        (0, "3 passed", None, "survived", "it would break the release badly"),
        (0, "3 passed", "only the message wording changes here", "accepted", "only the message wording changes here"),
        (-1, "3 passed", None, "broken", "timed out: 3 passed"),
        (4, "3 passed", None, "broken", "pytest exited 4: 3 passed"),
    ],
    ids=["failed", "collection-error", "exit-2-naming-no-test", "interrupted", "survived", "accepted", "timeout", "usage-error"],
)
def test_runner_judges_a_run_by_its_exit_code_and_output(code, output, accepted, result, detail):
    from ci.mutate import run

    mutation = mutations.Mutation("x-y", "f", "a", "b", "it would break the release badly", accepted)
    outcome = run.judge(mutation, code, output, 1.0)
    assert (outcome.result, outcome.detail) == (result, detail)
    figures = run.summary([outcome], 10.0)
    assert figures["survival_rate"] == (1.0 if result in ("survived", "accepted") else 0.0 if result == "killed" else None)


GROUP = ["tests/render/x.py::test_k", "tests/render/y.py::test_g"]


class _Steps:
    """run_tiers' stand-in for run_steps: the exit code each step gives, and the steps that ran."""

    def __init__(self, killer: int | None = None, chart: int = 0, whole: int = 0):
        self.codes = {"killer": killer, "chart": chart, "whole": whole}
        self.ran: list[str] = []

    def __call__(self, workers, paths):
        step = ("whole" if paths is None else "killer" if paths == ["tests/render/x.py::test_k"]
                else "group" if paths == GROUP else "chart")
        self.ran.append(step)
        return self.codes[step], f"{step} output", 1.0


@pytest.mark.parametrize(
    ("killer", "chart", "whole", "ran", "code"),
    [
        (1, 0, 0, ["killer"], 1),  # the known killer still fails: killed, nothing else runs
        (0, 1, 0, ["killer", "chart"], 1),  # it passes now: the long way decides
        (4, 0, 0, ["killer", "chart", "whole"], 0),  # it no longer exists: the long way, and survived means all passed
        (-1, 0, 1, ["killer", "chart", "whole"], 1),  # it timed out: decides nothing
        (None, 0, 2, ["chart", "whole"], 2),  # no known killer
        (None, None, 0, ["whole"], 0),  # no known killer, no chart tests (triton-common): the whole tiers
    ],
)
def test_runner_tries_the_known_killer_first_and_only_a_failure_of_it_decides(killer, chart, whole, ran, code):
    from ci.mutate import run

    steps = _Steps(killer, chart, whole)
    targeted = None if chart is None else ["tests/render/server"]
    result = run.run_steps(steps, 2, "tests/render/x.py::test_k" if killer is not None else None, targeted)
    assert (steps.ran, result[0], result[2]) == (ran, code, float(len(ran)))


@pytest.mark.parametrize(("group_code", "ran", "code"), [(1, ["killer", "group"], 1), (0, ["killer", "group", "chart", "whole"], 0)])
def test_the_known_killers_together_come_after_its_own_and_before_the_long_way(group_code, ran, code):
    from ci.mutate import run

    steps = _Steps(killer=0)
    steps.codes["group"] = group_code
    result = run.run_steps(steps, 2, "tests/render/x.py::test_k", ["tests/render/server"], group=GROUP)
    assert (steps.ran, result[0]) == (ran, code)


@pytest.mark.parametrize(("passes_unmutated", "ran", "code"), [(True, ["killer"], 1), (False, ["killer", "chart", "whole"], 0)])
def test_a_known_killer_that_fails_on_the_unmutated_copy_too_decides_nothing(passes_unmutated, ran, code):
    from ci.mutate import run

    steps = _Steps(killer=1)
    result = run.run_steps(steps, 2, "tests/render/x.py::test_k", ["tests/render/server"], lambda killer: passes_unmutated)
    assert (steps.ran, result[0]) == (ran, code)


def test_runner_records_only_failed_tests_as_killers(tmp_path, monkeypatch):
    from ci.mutate import run

    monkeypatch.setattr(run, "KILLERS", tmp_path / "killers.json")
    assert run.load_killers() == {}
    (tmp_path / "killers.json").write_text("[not a map")
    assert run.load_killers() == {}
    outcomes = [run.Outcome("a", "f", "killed", "tests/render/x.py::test_k[prod]", 1.0),
                run.Outcome("b", "f", "killed", "ERROR collecting tests/render/x.py", 1.0),
                run.Outcome("c", "f", "survived", "tests/render/x.py::test_k", 1.0),
                run.Outcome("d", "f", "killed", "tests/render/x.py::test_k[batch", 1.0)]  # cut inside its brackets
    assert [run.killer_of(o) for o in outcomes] == ["tests/render/x.py::test_k[prod]", None, None, None]
    run.save_killers({"a": "tests/render/x.py::test_k[prod]", "d": "tests/render/x.py::test_k[batch"})
    assert run.load_killers() == {"a": "tests/render/x.py::test_k[prod]"} and not (tmp_path / "killers.tmp").exists()


def test_a_killer_whose_parameters_hold_spaces_is_read_whole():
    from ci.mutate import run

    mutation = mutations.Mutation("x-y", "f", "a", "b", "why", None)
    for node_id in ("tests/schema/test_bad_values.py::test_bad[batch: a wrong value]",
                    'tests/render/server/test_helm_test.py::test_fails[400-{"error":"Expected [-1,4], got [1,3]"}]'):
        outcome = run.judge(mutation, 1, f"F\nFAILED {node_id} - AssertionError: no\n1 failed", 1.0)
        assert outcome.detail == node_id and run.killer_of(outcome) == node_id


def test_a_stale_entry_is_reported_before_any_tier_runs(tmp_path, monkeypatch, capsys):
    from ci.mutate import run

    stale = mutations.Mutation("x-y", "charts/triton-server/values.yaml", "text that no values file holds", "b", "it would break the release badly")
    monkeypatch.setattr(run.mutations, "load", lambda: [stale])
    monkeypatch.setattr(run, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(run.signal, "signal", lambda *args: None)  # main's SIGTERM handler stays out of pytest's process
    monkeypatch.setattr(run, "run_tiers", lambda *a, **k: pytest.fail("the unmutated copy ran for a stale entry alone"))
    assert run.main(["--only", "x-y"]) == 1
    assert "x-y: stale, charts/triton-server/values.yaml holds the text to find 0 times (must be 1)" in capsys.readouterr().out
    assert json.loads((tmp_path / "mutate" / "report.json").read_text())["figures"]["stale"] == 1
