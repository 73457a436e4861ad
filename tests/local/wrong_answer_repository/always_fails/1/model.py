"""Python-backend test model: raises on every request, as a model with a bug would. Triton answers each with an
error (HTTP 500, gRPC INTERNAL) carrying the message below."""


class TritonPythonModel:
    def execute(self, requests: list) -> list:
        raise ValueError("always_fails: this model fails every request on purpose")
