"""The error reader understands both Helm schema-error formats and our template failures."""

from tests.harness.errors import error_paths

OLD_FORMAT = """Error: values don't meet the specifications of the schema(s) in the following chart(s):
server:
- replicaCount: Invalid type. Expected: integer, given: string
- (root): Additional property replicas is not allowed
"""
NEW_FORMAT = """Error: values don't meet the specifications of the schema(s) in the following chart(s):
server:
- at '/replicaCount': got string, want integer
- at '': additional properties 'replicas' not allowed
"""
TEMPLATE_FAILURE = """Error: execution error at (triton-stack/charts/server/templates/server/deployment.yaml:1:4):
server.drain.terminationGracePeriodSeconds: 20 is shorter than ...
"""


def test_both_schema_formats_name_the_same_paths():
    assert error_paths(OLD_FORMAT, "triton-stack") == error_paths(NEW_FORMAT, "triton-stack") == {"server.replicaCount", "server.replicas"}


def test_root_chart_errors_have_no_prefix():
    assert error_paths(NEW_FORMAT.replace("server:", "triton-server:"), "triton-server") == {"replicaCount", "replicas"}


def test_template_failures_name_their_path():
    assert error_paths(TEMPLATE_FAILURE, "triton-stack") == {"server.drain.terminationGracePeriodSeconds"}


def test_unrelated_output_names_no_path():
    assert error_paths("Error: chart requires kubeVersion: >=1.29.0-0 which is incompatible", "triton-stack") == set()
