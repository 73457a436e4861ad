"""Answers each string of TEXT with its ASCII letters upper-cased (ECHO, BYTES: bytes.upper) and with its length in bytes (LENGTHS, INT32). numpy only."""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            texts = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy()
            echo = np.vectorize(lambda value: value.upper(), otypes=[np.object_])(texts)
            lengths = np.vectorize(len, otypes=[np.int32])(texts)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("ECHO", echo),
                pb_utils.Tensor("LENGTHS", lengths),
            ]))
        return responses
