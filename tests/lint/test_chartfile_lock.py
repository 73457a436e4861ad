"""Chartfile.lock (make lock, ci/lock/chartfile.py): current, one content per version, and the digest of what
`helm package` ships."""

from __future__ import annotations

import shutil

import pytest
import yaml

from ci.lock import chartfile
from tests.harness import render as helm

pytestmark = pytest.mark.render


@pytest.fixture(scope="module")
def generated() -> dict:
    return chartfile.generate()


@pytest.fixture
def chart_copy(tmp_path):
    """A copy of triton-common (no dependencies) to change: no test edits the repository."""
    copy = tmp_path / "triton-common"
    shutil.copytree(helm.CHARTS_DIR / "triton-common", copy)
    return copy


class TestTheLockIsCurrent:
    def test_chartfile_lock_is_what_make_lock_writes(self, generated):
        written = chartfile.load(chartfile.LOCK_FILE.read_text())
        stale = chartfile.stale_entries(generated, written)
        assert stale == [], f"Chartfile.lock is stale ({', '.join(stale)}): run `make lock`"
        assert chartfile.LOCK_FILE.read_text() == chartfile.dump(generated)

    def test_a_stale_lock_names_the_chart_and_field(self, generated):
        written = yaml.safe_load(chartfile.dump(generated))
        written["charts"]["triton-server"]["images"] = []
        written["charts"]["triton-batch"]["version"] = "0.0.9"
        assert chartfile.stale_entries(generated, written) == ["triton-batch.version", "triton-server.images"]

    def test_every_chart_is_locked_with_its_metadata(self, generated):
        charts = {path.parent.name: yaml.safe_load(path.read_text()) for path in helm.CHARTS_DIR.glob("*/Chart.yaml")}
        assert set(generated["charts"]) == set(charts)
        for name, metadata in charts.items():
            entry = generated["charts"][name]
            assert (entry["version"], entry["appVersion"]) == (metadata["version"], metadata.get("appVersion"))
            assert [d["version"] for d in entry["dependencies"]] == [d["version"] for d in metadata.get("dependencies", [])]

    def test_dependencies_carry_the_digest_of_the_chart_they_resolve_to(self, generated):
        umbrella = generated["charts"]["triton-stack"]
        by_name = {d["name"]: d for d in umbrella["dependencies"]}
        assert by_name["triton-server"]["alias"] == "server"
        for name, dependency in by_name.items():
            assert dependency["digest"] == generated["charts"][name]["digest"]

    def test_images_are_those_every_environment_file_renders_with_tag_and_digest(self, generated):
        server_images = {image["image"]: image for image in generated["charts"]["triton-server"]["images"]}
        kind = server_images["localhost/triton-stack/tritonserver-cpu:2.51.0-cpu"]
        assert (kind["repository"], kind["tag"], kind["digest"], kind["renderedBy"]) == (
            "localhost/triton-stack/tritonserver-cpu", "2.51.0-cpu", None, ["ci-kind"])
        assert {"prod", "staging"} <= set(server_images["nvcr.io/nvidia/tritonserver:24.10-py3"]["renderedBy"])
        # The helm test pod is the server chart's too.
        assert "docker.io/curlimages/curl:8.11.0" in server_images


class TestImageReferences:
    @pytest.mark.parametrize(("reference", "expected"), [
        ("nvcr.io/nvidia/tritonserver:24.10-py3", ("nvcr.io/nvidia/tritonserver", "24.10-py3", None)),
        ("mirror.example.com:5000/curl@sha256:" + "a" * 64, ("mirror.example.com:5000/curl", None, "sha256:" + "a" * 64)),
        ("r.io/x:1.0@sha256:" + "b" * 64, ("r.io/x", "1.0", "sha256:" + "b" * 64)),
        ("busybox", ("busybox", None, None)),
    ])
    def test_repository_tag_and_digest_are_read_off_the_reference(self, reference, expected):
        parsed = chartfile.parse_image(reference)
        assert (parsed["repository"], parsed["tag"], parsed["digest"]) == expected


class TestOneContentPerVersion:
    def test_no_chart_changed_under_a_recorded_version(self, generated):
        source, recorded = chartfile.base_lock()
        assert chartfile.version_reuse(generated, recorded) == [], f"compared with {source}"

    def test_a_change_without_a_version_bump_is_refused(self, chart_copy, generated):
        (chart_copy / "templates" / "_names.tpl").write_text((chart_copy / "templates" / "_names.tpl").read_text() + "\n{{/* changed */}}\n")
        current = {"charts": {"triton-common": {**generated["charts"]["triton-common"], "digest": chartfile.chart_digest(chart_copy)}}}
        (problem,) = chartfile.version_reuse(current, generated)
        version = generated["charts"]["triton-common"]["version"]
        assert problem.startswith(f"charts/triton-common: its content changed but its version is still {version}")
        assert "bump `version` in charts/triton-common/Chart.yaml" in problem

    def test_the_same_change_with_a_bumped_version_is_accepted(self, chart_copy, generated):
        (chart_copy / "templates" / "_names.tpl").write_text((chart_copy / "templates" / "_names.tpl").read_text() + "\n{{/* changed */}}\n")
        chart_yaml = chart_copy / "Chart.yaml"
        bumped = chartfile.next_patch(generated["charts"]["triton-common"]["version"])
        chartfile.set_chart_version(chart_yaml, bumped)
        assert yaml.safe_load(chart_yaml.read_text())["version"] == bumped
        current = {"charts": {"triton-common": {**generated["charts"]["triton-common"], "version": bumped,
                                                "digest": chartfile.chart_digest(chart_copy)}}}
        assert chartfile.version_reuse(current, generated) == []

    def test_make_lock_refuses_to_rewrite_a_recorded_version(self, monkeypatch, tmp_path, generated):
        changed = yaml.safe_load(chartfile.dump(generated))
        changed["charts"]["triton-server"]["digest"] = "sha256:" + "0" * 64
        monkeypatch.setattr(chartfile, "generate", lambda: changed)
        monkeypatch.setattr(chartfile, "base_lock", lambda: ("the test's base", generated))
        target = tmp_path / "Chartfile.lock"
        with pytest.raises(chartfile.LockError, match="charts/triton-server: its content changed"):
            chartfile.write(target)
        assert not target.exists()


class TestMakeBump:
    @pytest.mark.parametrize(("version", "bumped"), [("0.1.0", "0.1.1"), ("1.9.9", "1.9.10"), ("0.2.0-rc.1", "0.2.1")])
    def test_the_patch_number_goes_up(self, version, bumped):
        assert chartfile.next_patch(version) == bumped

    def test_only_the_named_dependency_is_repinned(self, tmp_path):
        chart_yaml = tmp_path / "Chart.yaml"
        shutil.copy(helm.CHARTS_DIR / "triton-stack" / "Chart.yaml", chart_yaml)
        before = yaml.safe_load(chart_yaml.read_text())
        assert chartfile.set_dependency_version(chart_yaml, "triton-routing", "7.7.7")
        after = yaml.safe_load(chart_yaml.read_text())
        pins = {d["name"]: d["version"] for d in after["dependencies"]}
        assert pins.pop("triton-routing") == "7.7.7"
        assert pins == {d["name"]: d["version"] for d in before["dependencies"] if d["name"] != "triton-routing"}
        assert after["version"] == before["version"]
        assert not chartfile.set_dependency_version(chart_yaml, "triton-routing", "7.7.7"), "no change the second time"

    def test_a_chart_yaml_without_a_version_line_is_refused(self, tmp_path):
        chart_yaml = tmp_path / "Chart.yaml"
        chart_yaml.write_text("apiVersion: v2\nname: x\n")
        with pytest.raises(chartfile.LockError, match="no top-level `version:` line"):
            chartfile.set_chart_version(chart_yaml, "1.0.0")


class TestTheDigestIsDeterministic:
    def test_line_endings_order_and_time_stamps_do_not_change_it(self, chart_copy):
        before = chartfile.chart_digest(chart_copy)
        values = chart_copy / "values.yaml"
        values.write_bytes(values.read_bytes().replace(b"\n", b"\r\n"))
        chart_yaml = chart_copy / "Chart.yaml"
        # Helm re-serialises Chart.yaml into the archive: key order and comments are not content.
        metadata = yaml.safe_load(chart_yaml.read_text())
        chart_yaml.write_text("# a comment\n" + yaml.safe_dump(dict(reversed(list(metadata.items()))), sort_keys=False))
        assert chartfile.chart_digest(chart_copy) == before

    def test_a_changed_byte_changes_it(self, chart_copy):
        before = chartfile.chart_digest(chart_copy)
        (chart_copy / "values.yaml").write_text((chart_copy / "values.yaml").read_text() + "# one more line\n")
        assert chartfile.chart_digest(chart_copy) != before

    def test_helmignored_files_and_packaged_dependencies_are_not_content(self, tmp_path):
        copy = tmp_path / "triton-batch"
        shutil.copytree(helm.CHARTS_DIR / "triton-batch", copy, ignore=shutil.ignore_patterns("__pycache__", "*.tgz"))
        before = chartfile.chart_digest(copy)
        (copy / "files" / "__pycache__").mkdir()
        (copy / "files" / "__pycache__" / "client.cpython-311.pyc").write_bytes(b"\0bytecode")
        (copy / "charts").mkdir(exist_ok=True)
        (copy / "charts" / "triton-common-9.9.9.tgz").write_bytes(b"packaged")
        (copy / "templates" / ".hidden").write_text("helm ignores hidden files under templates/")
        assert chartfile.chart_digest(copy) == before
        (copy / "files" / "notes.txt").write_text("a new file is content")
        assert chartfile.chart_digest(copy) != before

    @pytest.mark.parametrize("helm_major", helm.HELM_MAJORS)
    def test_packaging_twice_ships_the_locked_digests(self, tmp_path, helm_major, generated):
        # Both packagings (different time stamps in the archive) hold the content the lock records, subcharts too.
        for chart, entry in generated["charts"].items():
            if entry["type"] == "library":
                continue
            first = chartfile.package_digests(helm.package(chart, tmp_path / "first", helm=helm_major))
            second = chartfile.package_digests(helm.package(chart, tmp_path / "second", helm=helm_major))
            assert first == second
            assert first[chart] == entry["digest"]
            for dependency in entry["dependencies"]:
                assert first[f"{chart}/charts/{dependency['name']}"] == dependency["digest"]

    def test_a_library_chart_packages_to_its_locked_digest(self, tmp_path, generated):
        packaged = chartfile.package_digests(helm.package("triton-common", tmp_path))
        assert packaged == {"triton-common": generated["charts"]["triton-common"]["digest"]}


class TestBumpEdgeCases:
    def test_an_item_written_alias_first_is_repinned_and_the_charts_own_version_after_the_list_is_kept(self, tmp_path):
        chart_yaml = tmp_path / "Chart.yaml"
        chart_yaml.write_text("apiVersion: v2\nname: x\ndependencies:\n  - alias: server\n    name: triton-server\n    version: 0.1.0\n"
                              "  - repository: file://../triton-common\n    name: triton-common\n    version: 0.1.0\nversion: 1.4.2\n")
        assert chartfile.set_dependency_version(chart_yaml, "triton-common", "0.1.4")
        data = yaml.safe_load(chart_yaml.read_text())
        assert data["version"] == "1.4.2"
        assert {d["name"]: d["version"] for d in data["dependencies"]} == {"triton-server": "0.1.0", "triton-common": "0.1.4"}
        assert chartfile.set_dependency_version(chart_yaml, "triton-server", "0.2.0")
        assert yaml.safe_load(chart_yaml.read_text())["dependencies"][0]["version"] == "0.2.0"

    @pytest.mark.parametrize("version", ["1.0", "v1.2.3", "1.2.x"])
    def test_a_version_that_is_not_semver_is_refused(self, version):
        with pytest.raises(chartfile.LockError, match="is not MAJOR.MINOR.PATCH"):
            chartfile.next_patch(version)
