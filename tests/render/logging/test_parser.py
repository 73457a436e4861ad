"""The Fluentd pipeline's expressions, read from the rendered ConfigMap, on real Triton logs: the H100 start-up log
(glog) and the local server's (ISO8601), each as the container runtime writes it to the node (tests/harness/fluentd.py
runs the plugins' semantics). Fields per format, start-up tables as one record, no line lost, lines of any other
shape passed on unparsed."""

from __future__ import annotations

import pytest
import regex

from tests.harness import fluentd
from tests.harness import render as helm
from tests.render.logging.conftest import config_map, render_logging

pytestmark = pytest.mark.render

FIXTURES = helm.REPO_ROOT / "tests" / "fixtures"
GLOG = FIXTURES / "triton-h100" / "triton-startup.log"
ISO8601 = FIXTURES / "triton-local" / "triton-startup-iso8601.log"
TABLE_HEADERS = ("| Repository Agent | Path |", "| Backend ", "| Model ", "| Option ")


def stages(pipeline: fluentd.Pipeline, text: str) -> tuple[list[dict], list[dict]]:
    """(records after the multi-line join, the same records parsed)."""
    joined = pipeline.join_multiline(pipeline.join_partials(pipeline.tail(fluentd.cri_lines(text))))
    return joined, pipeline.parse(joined)


@pytest.mark.parametrize("capture", [GLOG, ISO8601], ids=["glog (H100)", "ISO8601 (local)"])
def test_no_line_is_lost_or_duplicated(pipeline, capture):
    text = capture.read_text()
    joined, parsed = stages(pipeline, text)
    assert "\n".join(record["log"] for record in joined) == text.rstrip("\n")
    assert len(parsed) == len(joined)


@pytest.mark.parametrize("capture", [GLOG, ISO8601], ids=["glog (H100)", "ISO8601 (local)"])
def test_every_start_up_table_is_one_record_with_the_line_that_announces_it(pipeline, capture):
    joined, parsed = stages(pipeline, capture.read_text())
    for header in TABLE_HEADERS:
        (record,) = [r for r in parsed if header in r.get("message", r.get("log", ""))]
        table = record["message"]
        assert record["source"].startswith(("server.cc:", "tritonserver.cc:")), record
        lines = table.split("\n")
        assert lines[0] == "" and lines[1].startswith("+--") and lines[-2].startswith("+--") and lines[-1] == "", lines[:2] + lines[-2:]
        print(f"{record['source']}: one record of {len(lines)} lines")


def test_glog_lines_become_fields(pipeline):
    _, parsed = stages(pipeline, GLOG.read_text())
    loaded = next(r for r in parsed if r.get("message") == "\"successfully loaded 'resnet_nobatch'\"")
    assert {k: loaded[k] for k in ("severity", "timestamp", "pid", "source", "file", "line")} == {
        "severity": "I", "timestamp": "1122 18:55:20.328573", "pid": 460, "source": "model_lifecycle.cc:839", "file": "model_lifecycle.cc", "line": 839}
    # The CRI time is the event's time and logtag is dropped by the partial join, log too; stream stays.
    assert sorted(loaded) == ["file", "line", "message", "pid", "severity", "source", "stream", "timestamp"]
    assert loaded["stream"] == "stdout"
    headed = [r for r in parsed if "severity" in r]
    assert len(headed) == sum(1 for line in GLOG.read_text().splitlines() if regex.match(r"[IWEF]\d{4} ", line))


def test_iso8601_lines_become_fields(pipeline):
    _, parsed = stages(pipeline, ISO8601.read_text())
    by_severity = {}
    for record in parsed:
        if "severity" in record:
            by_severity.setdefault(record["severity"], []).append(record)
    assert set(by_severity) == {"I", "W", "E"}
    error = by_severity["E"][0]
    assert regex.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", error["timestamp"])
    assert (error["source"], error["file"], error["line"]) == ("server.cc:241", "server.cc", 241)
    assert error["message"] == '"CudaDriverHelper has not been initialized."'
    assert isinstance(error["pid"], int)


def test_lines_in_no_triton_format_are_passed_on_unparsed(pipeline):
    _, parsed = stages(pipeline, ISO8601.read_text())
    unparsed = [r["log"] for r in parsed if "severity" not in r]
    assert unparsed == ["Error: Failed to initialize NVML", "Signal (15) received."]


def test_a_line_the_runtime_split_is_joined_back(pipeline):
    long_message = "I1122 18:55:20.328573 460 model_lifecycle.cc:839] \"" + "x" * 40000 + "\""
    lines = fluentd.cri_lines(long_message + "\n")
    assert [line.split(" ")[2] for line in lines] == ["P", "P", "F"]
    (record,) = pipeline.run(lines)
    assert record["message"] == long_message.split("] ", 1)[1]


def test_a_line_that_is_not_a_cri_line_is_kept(pipeline):
    (record,) = pipeline.run(["not what a container runtime writes"])
    assert record == {"unmatched_line": "not what a container runtime writes"}


def test_a_header_glog_cannot_have_stays_unparsed(pipeline):
    # The negative pair of the field tests: a severity letter Triton never writes (D) is not taken for a header.
    (record,) = pipeline.run(fluentd.cri_lines('D1122 18:55:20.328573 460 model_lifecycle.cc:839] "x"\n'))
    assert "severity" not in record and record["log"].startswith("D1122")


def test_without_the_continuation_rule_a_table_would_be_split(tmp_path):
    # The negative pair of the table test: the same pipeline without continuous_line_regexp sends every table line
    # on alone (concat's behaviour for a non-start line with nothing buffered... or a non-continuous one).
    text = config_map(render_logging())["data"]["fluent.conf"]
    broken = fluentd.Pipeline.from_config(text.replace("continuous_line_regexp /^(?:[+|]|$)/", "continuous_line_regexp /^NEVER$/"))
    joined, _ = stages(broken, GLOG.read_text())
    assert any(record["log"].startswith("+--") for record in joined)


@pytest.mark.parametrize("spelling", [r"\h", r"\z", "(?m)", r"\p{Alpha}"])
def test_an_expression_ruby_reads_differently_is_refused(spelling):
    with pytest.raises(fluentd.ConfigError, match="Ruby reads differently"):
        fluentd.ruby_regex(f"/^{spelling}x/")


def test_ruby_m_is_dotall_and_anchors_are_per_line():
    pattern = fluentd.ruby_regex("/^a(?<rest>.*)$/m")
    assert pattern.search("ab\ncd").group("rest") == "b\ncd"
    assert fluentd.ruby_regex("/^c/").search("ab\ncd")


def test_a_pipeline_that_would_drop_unparsed_records_is_refused():
    text = config_map(render_logging())["data"]["fluent.conf"]
    with pytest.raises(fluentd.ConfigError, match="reserve_data"):
        fluentd.Pipeline.from_config(text.replace("reserve_data true", "reserve_data false"))
    with pytest.raises(fluentd.ConfigError, match="emit_unmatched_lines"):
        fluentd.Pipeline.from_config(text.replace("emit_unmatched_lines true", "emit_unmatched_lines false"))


def interleave(stdout: list[str], stderr: list[str], at: int) -> list[str]:
    """CRI lines of two streams as one file: stderr's lines between stdout's line `at - 1` and `at`."""
    return stdout[:at] + stderr + stdout[at:]


def test_a_stderr_line_inside_a_table_neither_ends_nor_joins_it(pipeline):
    # Triton prints its tables on stdout; a line on stderr meanwhile (here a CUDA warning) lands in the middle of
    # the file. Joined per stream (concat's stream_identity_key), the table stays one record and the stderr line its
    # own, and every record says which stream it came from.
    text = GLOG.read_text()
    stdout = fluentd.cri_lines(text)
    at = next(i for i, line in enumerate(stdout) if "| Backend " in line) + 2
    stderr = fluentd.cri_lines("W1122 18:55:20.100000 460 cuda_memory_manager.cc:117] \"CUDA memory pool is disabled\"\n", stream="stderr")
    records = pipeline.run(interleave(stdout, stderr, at))
    (table,) = [r for r in records if "| Backend " in r.get("message", "")]
    assert table["stream"] == "stdout" and table["message"].rstrip("\n").endswith("+")
    (warning,) = [r for r in records if r.get("source") == "cuda_memory_manager.cc:117"]
    assert warning["stream"] == "stderr" and warning["severity"] == "W"
    assert {r["stream"] for r in records} == {"stdout", "stderr"}
    assert pipeline.run(stdout) == [r for r in records if r is not warning]


def test_partial_lines_of_two_streams_are_joined_apart(pipeline):
    long_out = "I1122 18:55:20.328573 460 model_lifecycle.cc:839] \"" + "o" * 20000 + "\""
    long_err = "E1122 18:55:20.328574 460 server.cc:241] \"" + "e" * 20000 + "\""
    out, err = fluentd.cri_lines(long_out + "\n"), fluentd.cri_lines(long_err + "\n", stream="stderr")
    assert [line.split(" ")[2] for line in out] == ["P", "F"]
    records = pipeline.run([out[0], err[0], out[1], err[1]])
    assert sorted((r["stream"], r["message"]) for r in records) == sorted([("stdout", long_out.split("] ", 1)[1]), ("stderr", long_err.split("] ", 1)[1])])


def test_without_stream_identity_the_streams_mix_and_lose_their_name():
    # The negative pair: the pipeline as it was (one buffer per file, the stream field deleted by the partial join)
    # splits the table at the stderr line, and no record keeps its stream.
    text = config_map(render_logging())["data"]["fluent.conf"]
    old = fluentd.Pipeline.from_config(text.replace("    stream_identity_key stream\n", "").replace("partial_cri_stream_key cri_stream_unused", "partial_cri_stream_key stream"))
    stdout = fluentd.cri_lines(GLOG.read_text())
    at = next(i for i, line in enumerate(stdout) if "| Backend " in line) + 2
    stderr = fluentd.cri_lines("W1122 18:55:20.100000 460 cuda_memory_manager.cc:117] \"CUDA memory pool is disabled\"\n", stream="stderr")
    records = old.run(interleave(stdout, stderr, at))
    assert not any("stream" in r for r in records)
    # the stderr line closed the table, and the table's remaining lines were joined to it
    (reference,) = [r["message"] for r in pipeline_of(text).run(stdout) if "| Backend " in r.get("message", "")]
    (cut,) = [r["message"] for r in records if "| Backend " in r.get("message", "")]
    (warning,) = [r for r in records if r.get("source") == "cuda_memory_manager.cc:117"]
    assert cut != reference and reference.startswith(cut.rstrip("\n")) and "\n| " in warning["message"]


def pipeline_of(text: str) -> fluentd.Pipeline:
    return fluentd.Pipeline.from_config(text)
