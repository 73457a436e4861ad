"""Triton python-backend model: classify 3x32x32 float images into the synthetic pattern classes.

Inputs and outputs are declared in ../config.pbtxt; the repository tests check statically that the names
read and written here match it. This file is copied verbatim into image_classifier_nobatch/.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from network import load_classifier

# A pod may be given many cores while Triton runs several instances side by side; the thread count is a
# config parameter so that it is sized with the instance_group, not guessed here.
_THREADS_PARAMETER = "torch_intra_op_threads"


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        threads = config.get("parameters", {}).get(_THREADS_PARAMETER, {}).get("string_value")
        if threads:
            torch.set_num_threads(int(threads))
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.classifier = load_classifier(version_dir / "weights.pt")

    def execute(self, requests: list) -> list:
        # With dynamic batching Triton hands over several requests at once; running them as one torch batch
        # is what makes server-side batching pay off, so the requests are concatenated, not looped over.
        images = [pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy() for request in requests]
        with torch.inference_mode():
            probabilities = self.classifier(torch.from_numpy(np.concatenate(images))).numpy()
        boundaries = np.cumsum([len(batch) for batch in images])[:-1]
        responses = []
        for request_probabilities in np.split(probabilities, boundaries):
            top_class = request_probabilities.argmax(axis=1).astype(np.int64).reshape(-1, 1)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("PROBABILITIES", request_probabilities),
                        pb_utils.Tensor("TOP_CLASS", top_class),
                    ]
                )
            )
        return responses
