"""Answers every image with the brightest channel as its class, and refuses all-black images with an error.

The error is a per-request InferenceResponse error: Triton returns it as HTTP 500 / gRPC INTERNAL to that request
alone, the way a model that cannot handle one input does. numpy only, so it loads fast.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

REFUSAL = "picky model refuses an all-black image"


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
            if np.any(images.reshape(len(images), -1).max(axis=1) == 0.0):
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(REFUSAL)))
                continue
            scores = np.zeros((len(images), 8), dtype=np.float32)
            scores[:, :3] = images.mean(axis=(2, 3))
            top = scores.argmax(axis=1).astype(np.int64).reshape(-1, 1)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("PROBABILITIES", scores),
                pb_utils.Tensor("TOP_CLASS", top),
            ]))
        return responses
