"""Python-backend test model: all probability on class 0 for every image, whatever it shows (a wrong answer for
every image of another class). Interface as models/image_classifier/config.pbtxt."""

import numpy as np
import triton_python_backend_utils as pb_utils

CLASSES = 8


class TritonPythonModel:
    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            items = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().shape[0]
            probabilities = np.zeros((items, CLASSES), dtype=np.float32)
            probabilities[:, 0] = 1.0
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("PROBABILITIES", probabilities),
                        pb_utils.Tensor("TOP_CLASS", np.zeros((items, 1), dtype=np.int64)),
                    ]
                )
            )
        return responses
