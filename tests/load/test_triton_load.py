"""What the load profiles compute, checked without Locust or a server: the shapes, KServe v2 requests and answers
(against tritonclient.http's own encoder and parser), the labelled images, the SLO gates.

charts/triton-loadtest/files/triton_load.py is run in-process like a model's own code (no __pycache__ written
into the chart); the locustfile itself is only ever run by Locust (tests/local/test_load_profiles.py).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
import tritonclient.http as http_client

from tests.harness.model_config import MODELS_DIR, load_python_source
from tests.harness.render import CHARTS_DIR, REPO_ROOT

FILES = CHARTS_DIR / "triton-loadtest" / "files"
triton_load = load_python_source(FILES / "triton_load.py", "loadtest_triton_load")

# What GET /v2/models/image_classifier and .../config answer (Triton 2.51, the shipped config), trimmed.
METADATA = {"name": "image_classifier", "versions": ["1"], "platform": "python",
            "inputs": [{"name": "IMAGE", "datatype": "FP32", "shape": [-1, 3, 32, 32]}],
            "outputs": [{"name": "PROBABILITIES", "datatype": "FP32", "shape": [-1, 8]}, {"name": "TOP_CLASS", "datatype": "INT64", "shape": [-1, 1]}]}
CONFIG = {"name": "image_classifier", "max_batch_size": 16,
          "output": [{"name": "PROBABILITIES", "label_filename": "labels.txt"}, {"name": "TOP_CLASS", "label_filename": ""}]}


@pytest.fixture(scope="module")
def spec():
    return triton_load.model_spec(METADATA, CONFIG)


@pytest.fixture(scope="module")
def images():
    return triton_load.load_labelled_images(FILES / triton_load.LABELLED_IMAGES_FILE)


class TestShapes:
    settings = triton_load.ShapeSettings(peak_users=8, duration_s=40.0)

    def test_step_climbs_in_equal_steps_to_the_peak(self):
        assert [triton_load.users_at("step", t, self.settings) for t in (0, 9.9, 10, 20, 30, 39.9)] == [2, 2, 4, 6, 8, 8]

    def test_spike_bursts_to_the_peak_mid_period_from_the_base(self):
        settings = triton_load.ShapeSettings(peak_users=8, duration_s=40.0, spike_count=2, spike_fraction=0.2)
        # two periods of 20 s, bursts over 8-12 s and 28-32 s
        assert [triton_load.users_at("spike", t, settings) for t in (0, 7.9, 8, 11.9, 12, 28, 33)] == [2, 2, 8, 8, 2, 8, 2]

    def test_soak_holds_the_peak(self):
        assert {triton_load.users_at("soak", t, self.settings) for t in range(40)} == {8}

    def test_diurnal_replays_the_day_compressed_into_the_run(self):
        settings = triton_load.ShapeSettings(peak_users=100, duration_s=24.0)  # one second per hour
        assert [triton_load.users_at("diurnal", t, settings) for t in (0, 3.5, 15, 23.5)] == [30, 15, 100, 34]

    @pytest.mark.parametrize("shape", triton_load.SHAPES)
    def test_every_shape_ends_with_the_run(self, shape):
        assert triton_load.users_at(shape, 39.99, self.settings) >= 1
        assert triton_load.users_at(shape, 40.0, self.settings) is None

    def test_an_unknown_shape_is_refused(self):
        with pytest.raises(triton_load.ShapeError, match="unknown --shape 'ramp'"):
            triton_load.users_at("ramp", 0, self.settings)

    @pytest.mark.parametrize(("field", "value", "option"), [
        ("peak_users", 0, "--users"), ("step_count", 0, "--step-count"), ("spike_fraction", 1.0, "--spike-fraction"),
        ("diurnal_hours", (0.5,) * 23, "--diurnal-hours"),
    ])
    def test_settings_out_of_range_name_the_option(self, field, value, option):
        with pytest.raises(triton_load.ShapeError, match=option):
            triton_load.ShapeSettings(**{field: value})

    def test_diurnal_hours_parse_and_refuse_a_wrong_count(self):
        assert triton_load.parse_hours(",".join(["0.5"] * 24)) == (0.5,) * 24
        with pytest.raises(triton_load.ShapeError, match="has 3 values; it needs 24"):
            triton_load.parse_hours("1,2,3")


class TestModelSpec:
    def test_built_from_metadata_and_config(self, spec):
        assert spec.max_batch_size == 16 and spec.labelled_output == "PROBABILITIES"
        assert spec.inputs == (triton_load.Tensor("IMAGE", "FP32", (3, 32, 32)),)
        assert spec.request_shape(spec.inputs[0], 4) == [4, 3, 32, 32]

    def test_grpc_json_answers_give_the_same_spec(self, spec):
        # tritonclient.grpc as_json: int64 shapes as strings, the config wrapped in "config"
        grpc_metadata = {**METADATA, "inputs": [{**METADATA["inputs"][0], "shape": ["-1", "3", "32", "32"]}],
                         "outputs": [{**o, "shape": [str(d) for d in o["shape"]]} for o in METADATA["outputs"]]}
        assert triton_load.model_spec(grpc_metadata, {"config": CONFIG}) == spec

    @pytest.mark.parametrize("batch", [0, 17])
    def test_a_batch_the_model_cannot_take_is_refused(self, batch):
        with pytest.raises(triton_load.ModelError, match="takes 1 to 16 items"):
            triton_load.model_spec(METADATA, CONFIG, batch)

    def test_labelled_payload_needs_a_labelled_output(self, images):
        unlabelled = triton_load.model_spec(METADATA, {**CONFIG, "output": []})
        with pytest.raises(triton_load.ModelError, match="no output with a label_filename"):
            triton_load.labelled_payloads(unlabelled, images, 1)

    def test_labelled_payload_needs_the_images_shape(self, images):
        other = triton_load.model_spec({**METADATA, "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, 10]}]}, CONFIG)
        with pytest.raises(triton_load.ModelError, match="use --payload random"):
            triton_load.labelled_payloads(other, images, 1)

    def test_random_payload_follows_the_metadata(self, spec):
        payload = triton_load.random_payloads(spec, 2, count=1)[0]
        (tensor, shape, values), = payload.inputs
        assert shape == [2, 3, 32, 32] and len(values) == 2 * 3 * 32 * 32 and payload.expected is None


class TestLabelledImages:
    def test_the_file_is_what_the_generator_makes(self):
        completed = subprocess.run([sys.executable, str(REPO_ROOT / "ci" / "loadtest" / "labelled_images.py"), "--check"],
                                   capture_output=True, text=True, timeout=60, env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"})
        assert completed.returncode == 0, completed.stderr

    def test_the_served_network_names_every_stored_image_as_labelled(self, images, network):
        classifier = network.load_classifier(MODELS_DIR / "image_classifier" / "1" / "weights.pt")
        batch = np.asarray([images.values(i) for i in range(len(images.classes))], dtype=np.float32).reshape(-1, *images.dims)
        with torch.inference_mode():
            predicted = classifier(torch.from_numpy(batch)).numpy().argmax(axis=1)
        labels = (MODELS_DIR / "image_classifier" / "labels.txt").read_text().split()
        assert [labels[i] for i in predicted] == list(images.classes)
        assert len(set(images.classes)) == len(labels)  # every class is exercised


class TestKServeEncoding:
    def test_binary_body_is_byte_for_byte_what_tritonclient_sends(self, spec, images):
        payload = triton_load.labelled_payloads(spec, images, 2)[0]
        body, header_length = triton_load.http_binary_body(spec, payload)
        (tensor, shape, values), = payload.inputs
        reference_input = http_client.InferInput("IMAGE", shape, "FP32")
        reference_input.set_data_from_numpy(np.asarray(values, dtype=np.float32).reshape(shape), binary_data=True)
        output = http_client.InferRequestedOutput("PROBABILITIES", binary_data=True, class_count=1)
        reference, reference_length = http_client.InferenceServerClient.generate_request_body([reference_input], outputs=[output])
        assert json.loads(body[:header_length]) == json.loads(reference[:reference_length])
        assert body[header_length:] == reference[reference_length:]

    def test_json_body_carries_the_same_request(self, spec, images):
        payload = triton_load.labelled_payloads(spec, images, 1)[0]
        request = json.loads(triton_load.http_json_body(spec, payload))
        assert request["inputs"][0]["shape"] == [1, 3, 32, 32] and len(request["inputs"][0]["data"]) == 3072
        assert request["outputs"] == [{"name": "PROBABILITIES", "parameters": {"classification": 1}}]

    def test_binary_answer_parses_as_tritonclient_parses_it(self):
        labels = [b"0.97:4:disk", b"0.88:5:ring"]
        blob = b"".join(struct.pack("<I", len(label)) + label for label in labels)
        header = json.dumps({"model_name": "m", "outputs": [{"name": "PROBABILITIES", "datatype": "BYTES", "shape": [2, 1],
                                                             "parameters": {"binary_data_size": len(blob)}}]}).encode()
        ours = triton_load.parse_http_response(header + blob, len(header))
        theirs = http_client.InferResult.from_response_body(header + blob, header_length=len(header)).as_numpy("PROBABILITIES")
        assert ours["PROBABILITIES"] == [value.decode() for value in theirs.ravel()] == ["0.97:4:disk", "0.88:5:ring"]


    @pytest.mark.parametrize(("datatype", "values"), [
        ("BYTES", np.array([b"0.97:4:disk", b"", "\u00e9t\u00e9".encode()], dtype=np.object_)),
        ("FP32", np.array([0.5, -1.25, 3.0], dtype=np.float32)),
        ("INT64", np.array([1, -2, 2**40], dtype=np.int64)),
    ])  # fmt: skip
    def test_grpc_raw_contents_unpack_as_tritonclient_packs_them(self, datatype, values):
        # raw_output_contents carry what tritonclient.utils serialises for raw_input_contents (the same layout).
        from tritonclient.utils import serialize_byte_tensor

        raw = serialize_byte_tensor(values).item() if datatype == "BYTES" else values.tobytes()
        expected = [v.decode() for v in values] if datatype == "BYTES" else values.tolist()
        assert triton_load.unpack_tensor(datatype, raw) == expected

    @pytest.mark.parametrize(("datatype", "raw"), [
        ("FP32", b"\x00" * 6),  # not whole 4-byte values
        ("BYTES", struct.pack("<I", 9) + b"short"),  # an element longer than what is left
        ("BYTES", b"\x01\x00"),  # a length cut short
        ("BYTES", struct.pack("<I", 2) + b"\xff\xfe"),  # not UTF-8
    ])  # fmt: skip
    def test_malformed_raw_contents_are_a_value_error(self, datatype, raw):
        with pytest.raises(ValueError):
            triton_load.unpack_tensor(datatype, raw)


class TestAnswers:
    def test_the_right_classes_pass(self, spec, images):
        payload = triton_load.labelled_payloads(spec, images, 2)[0]
        answer = {"PROBABILITIES": [f"0.9:{i}:{name}" for i, name in enumerate(payload.expected)]}
        assert triton_load.check_answer(spec, payload, answer) is None

    def test_a_wrong_class_fails_naming_both(self, spec, images):
        payload = triton_load.labelled_payloads(spec, images, 1)[1]  # vertical_stripes
        error = triton_load.check_answer(spec, payload, {"PROBABILITIES": [b"0.99:0:horizontal_stripes"]})
        assert error == "wrong class: item 0: expected vertical_stripes, got horizontal_stripes"

    def test_a_missing_output_fails(self, spec, images):
        payload = triton_load.labelled_payloads(spec, images, 1)[0]
        assert "missing" in triton_load.check_answer(spec, payload, {})


class TestSloGates:
    slo = triton_load.Slo(p95_ms=50, p99_ms=100, max_failure_ratio=0.01)

    def test_a_run_within_every_limit_passes(self):
        verdict = triton_load.evaluate(self.slo, requests=1000, failure_ratio=0.005, p95_ms=40, p99_ms=90)
        assert verdict.passed and [g.name for g in verdict.gates] == ["requests", "failure-ratio", "p95", "p99", "stall"]

    @pytest.mark.parametrize(("measured", "failed"), [
        ({"p95_ms": 51}, ["p95"]), ({"p99_ms": 101}, ["p99"]), ({"failure_ratio": 0.02}, ["failure-ratio"]),
        ({"p95_ms": 60, "failure_ratio": 0.5}, ["failure-ratio", "p95"]), ({"silence_s": 10.0}, ["stall"]),
    ])
    def test_each_gate_fails_on_its_own_and_says_so(self, measured, failed):
        verdict = triton_load.evaluate(self.slo, **{"requests": 1000, "failure_ratio": 0.0, "p95_ms": 40, "p99_ms": 90, **measured})
        assert [g.name for g in verdict.failed] == failed
        assert all("FAILED" in g.line and g.option in g.line for g in verdict.failed)

    def test_a_run_without_requests_fails(self):
        verdict = triton_load.evaluate(self.slo, requests=0, failure_ratio=0.0, p95_ms=0, p99_ms=0)
        assert [g.name for g in verdict.failed] == ["requests"]

    def test_a_zero_latency_limit_turns_the_gate_off(self):
        verdict = triton_load.evaluate(triton_load.Slo(p95_ms=0, p99_ms=0, stall_s=0), requests=10, failure_ratio=0.0, p95_ms=9e9,
                                       p99_ms=9e9, silence_s=9e9)
        assert verdict.passed and [g.name for g in verdict.gates] == ["requests", "failure-ratio"]

    def test_a_stall_just_under_the_window_passes_and_at_it_fails(self):
        passing = triton_load.evaluate(self.slo, requests=10, failure_ratio=0.0, p95_ms=1, p99_ms=1, silence_s=9.9)
        failing = triton_load.evaluate(self.slo, requests=10, failure_ratio=0.0, p95_ms=1, p99_ms=1, silence_s=10.0)
        assert passing.passed and [g.name for g in failing.failed] == ["stall"]
        assert failing.failed[0].line == "SLO gate stall FAILED: measured 10 s, under 10 s allowed (--slo-stall-s)"


class TestSilence:
    # Answers are counted per whole second: a second with one is answered throughout.
    def test_answers_every_second_leave_no_silence(self):
        assert triton_load.longest_silence(range(100, 110), 100.2, 109.8) == 0.0

    def test_a_gap_in_the_middle_the_start_or_the_end_is_measured(self):
        assert triton_load.longest_silence([100, 101, 106, 107], 100.0, 108.0) == 4.0  # 102..106
        assert triton_load.longest_silence([103, 104], 100.0, 105.0) == 3.0  # nothing before 103
        assert triton_load.longest_silence([100], 100.0, 104.5) == 3.5  # nothing after 101

    def test_no_answer_at_all_is_the_whole_run_and_answers_outside_it_do_not_count(self):
        assert triton_load.longest_silence([], 100.0, 105.0) == 5.0
        assert triton_load.longest_silence([90, 200], 100.0, 105.0) == 5.0


class TestRefusedSettings:
    settings = triton_load.ShapeSettings(duration_s=60.0)

    def test_the_request_timeout_follows_the_p99_limit_unless_given(self):
        assert [triton_load.request_timeout_s(0, 250), triton_load.request_timeout_s(0, 100), triton_load.request_timeout_s(0, 0),
                triton_load.request_timeout_s(5, 250)] == [1.0, 1.0, 30.0, 5]

    def test_sound_settings_pass(self):
        triton_load.check_run("spike", self.settings, triton_load.Slo(), user_rps=0.5, request_timeout_s=0)

    @pytest.mark.parametrize(("shape", "settings", "slo", "rps", "message"), [
        ("soak", {}, {"p95_ms": -1}, 0, "--slo-p95-ms -1: 0 or more"),
        ("soak", {}, {"max_failure_ratio": 1.5}, 0, "--slo-failure-ratio 1.5: from 0 to 1"),
        ("soak", {}, {"stall_s": -2}, 0, "--slo-stall-s -2: 0 or more"),
        ("soak", {}, {"stall_s": 5}, 0.2, "--slo-stall-s 5 is not above the pause between one user's requests"),
        ("spike", {"duration_s": 9.9}, {}, 0, "spike bursts would last 1.98 s"),
    ])  # fmt: skip
    def test_settings_that_would_judge_nothing_are_refused(self, shape, settings, slo, rps, message):
        with pytest.raises(triton_load.ShapeError, match=re.escape(message)):
            triton_load.check_run(shape, triton_load.ShapeSettings(**settings), triton_load.Slo(**slo), user_rps=rps, request_timeout_s=0)

    def test_a_spike_of_exactly_two_seconds_is_seen(self):
        triton_load.check_run("spike", triton_load.ShapeSettings(duration_s=10.0), triton_load.Slo(), user_rps=0, request_timeout_s=0)

    def test_a_run_of_no_length_is_refused_naming_the_option(self):
        with pytest.raises(triton_load.ShapeError, match="--run-time 0: above 0 s"):
            triton_load.ShapeSettings(duration_s=0.0)
