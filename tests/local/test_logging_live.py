"""The logging chart's parser on lines the real local Triton writes now: the rendered values/local.yaml pod started
with each --log-format (default: glog, and ISO8601), stopped with SIGTERM, and its whole log run through the
pipeline the rendered ConfigMap holds (tests/harness/fluentd.py), as the container runtime would write it."""

from __future__ import annotations

import pytest
import regex

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import fluentd
from tests.harness import render as helm
from tests.harness.triton_local import find_triton_pod

pytestmark = pytest.mark.local

TIMESTAMPS = {"default": r"\d{4} \d{2}:\d{2}:\d{2}\.\d{6}", "ISO8601": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"}


@pytest.fixture(scope="module", params=sorted(TIMESTAMPS))
def served(request, tmp_path_factory, launch_rendered):
    log_format = request.param
    objects = helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], {"server": {"triton": {"logFormat": log_format}}, "logging": {"enabled": True}},
                          kube_version=KUBE_HIGHEST)
    pipeline = fluentd.Pipeline.from_config(find(objects, "ConfigMap", "-logging")["data"]["fluent.conf"])
    launched = launch_rendered(find_triton_pod(objects), tmp_path_factory.mktemp(f"logging-{log_format}"))
    with launched.server as server:
        server.wait_ready()
    return log_format, server.log_text(), pipeline


def test_every_line_is_kept_and_the_tables_are_single_records(served):
    log_format, text, pipeline = served
    joined = pipeline.join_multiline(pipeline.join_partials(pipeline.tail(fluentd.cri_lines(text))))
    assert "\n".join(record["log"] for record in joined) == text.rstrip("\n")
    records = pipeline.parse(joined)
    tables = [r for r in records if r.get("message", "").startswith("\n+--")]
    print(f"\n{log_format}: {len(text.splitlines())} lines -> {len(records)} records, {len(tables)} tables "
          f"({', '.join(r['source'] for r in tables)})")
    assert len(tables) == 4


def test_every_line_with_a_triton_header_has_its_fields(served):
    log_format, text, pipeline = served
    records = pipeline.run(fluentd.cri_lines(text))
    parsed = [r for r in records if "severity" in r]
    header = regex.compile(r"^[IWEF]\d{4} " if log_format == "default" else r"^\d{4}-\d{2}-\d{2}T\S+ [IWEF] ")
    assert len(parsed) == sum(1 for line in text.splitlines() if header.match(line))
    for record in parsed:
        assert regex.fullmatch(TIMESTAMPS[log_format], record["timestamp"]), record
        assert record["source"] == f"{record['file']}:{record['line']}" and isinstance(record["pid"], int)
    severities = {r["severity"] for r in parsed}
    unparsed = [r["log"] for r in records if "severity" not in r]
    print(f"{log_format}: severities {sorted(severities)}; passed on unparsed: {unparsed}")
    assert {"I", "W", "E"} <= severities
    assert "Signal (15) received." in unparsed
