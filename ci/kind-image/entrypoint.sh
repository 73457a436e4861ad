#!/bin/sh
# The kind image's entrypoint. The chart passes Triton's command line as the container's args (no `command`), as
# for the NGC image, whose /opt/nvidia/nvidia_entrypoint.sh prepares CUDA and then execs its arguments. There is
# nothing to prepare on a CPU: exec the arguments, so that they become PID 1 and receive the kubelet's SIGTERM.
set -e
if [ "$#" -eq 0 ]; then
  echo "triton-entrypoint: no command given (the chart passes tritonserver and its flags as args)" >&2
  exit 64
fi
exec "$@"
