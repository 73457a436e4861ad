"""Python-backend test model: doubles its input, and raises on any negative value, as a model that cannot handle
an input it was sent would. Triton counts a raise in execute as a failed request (reason BACKEND)."""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            values = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            if (values < 0).any():
                raise ValueError(f"picky: {int((values < 0).sum())} negative inputs; this model takes values >= 0")
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("Y", (values * 2).astype(np.float32))]))
        return responses
