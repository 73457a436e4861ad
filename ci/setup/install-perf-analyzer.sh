#!/usr/bin/env bash
# Installs perf_analyzer (Triton's load generator) into .tools/perf_analyzer, for the benchmarks (ci/bench).
#
# Where it comes from: the tritonclient==2.41.0 manylinux wheel on PyPI carries the binary as
# tritonclient-2.41.0.data/data/bin/perf_analyzer (later wheels dropped it). That wheel cannot be installed
# into .venv (nvidia-pytriton needs tritonclient>=2.50), so it is only downloaded and the binary extracted.
#
# What the binary needs besides glibc, libstdc++, zlib and OpenSSL 3 (all in Debian 12):
#   libb64.so.0d     Debian's libb64-0d (`make setup` installs it when run as root). When it is missing, the
#                    copy that nvidia-pytriton bundles in the venv is used instead, with a note.
#   libcudart.so.12  only loaded, never used without a GPU: linked to the CUDA runtime bundled in the venv
#                    (site-packages/nvidia_pytriton.libs/libcudart-*.so.12*).
# Both links live in .tools/perf_analyzer/lib; .tools/perf_analyzer/perf_analyzer is a wrapper that puts that
# directory on LD_LIBRARY_PATH and execs bin/perf_analyzer.
#
# Idempotent: the wheel is downloaded and the binary extracted only when missing; the library links and the
# wrapper are rewritten every run (cheap, and they follow a recreated venv), then `--version` is checked.
set -euo pipefail

VERSION=2.41.0
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
venv=${VENV:-$root/.venv}
cache="$root/.tools/cache"
dest="$root/.tools/perf_analyzer"
wheel_name="tritonclient-$VERSION-py3-none-manylinux1_x86_64.whl"
member="tritonclient-$VERSION.data/data/bin/perf_analyzer"

if [ "$(uname -m)" != x86_64 ]; then
  echo "perf_analyzer: the tritonclient $VERSION wheel used here is x86_64 only; this machine is $(uname -m)" >&2
  exit 1
fi

mkdir -p "$cache" "$dest/bin" "$dest/lib"

# 1. The wheel. Its platform tag is manylinux1_x86_64, which pip on any x86_64 glibc Linux accepts; the explicit
#    --platform makes the download the same whatever this interpreter's own tags are.
if [ ! -f "$cache/$wheel_name" ]; then
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux1_x86_64 --implementation py --python-version 3 \
    --dest "$cache" "tritonclient==$VERSION" 2>&1 | { grep -v '^WARNING: Location' || true; }
  [ -f "$cache/$wheel_name" ] || { echo "perf_analyzer: pip did not produce $cache/$wheel_name" >&2; exit 1; }
fi

# 2. The binary (the wheel carries no libraries of its own for it).
if [ ! -x "$dest/bin/perf_analyzer" ]; then
  "$python" - "$cache/$wheel_name" "$member" "$dest/bin/perf_analyzer.tmp" <<'PY'
import sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, open(target, "wb") as out:
    out.write(archive.read(member))
PY
  chmod 0755 "$dest/bin/perf_analyzer.tmp"
  mv "$dest/bin/perf_analyzer.tmp" "$dest/bin/perf_analyzer"
  echo "perf_analyzer: extracted from $wheel_name"
fi

# 3. Libraries. The links are relative, so they survive moving the checkout.
if [ ! -x "$venv/bin/python" ]; then
  echo "perf_analyzer: no virtualenv at $venv; run \`make venv\` first" >&2
  exit 1
fi
bundled=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia_pytriton.libs
[ -d "$bundled" ] || { echo "perf_analyzer: $bundled is missing: nvidia-pytriton is not installed in $venv; run \`make venv\`" >&2; exit 1; }

link_into_lib() { # soname target
  local relative
  relative=$("$python" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$2" "$dest/lib")
  ln -sfn "$relative" "$dest/lib/$1"
}

cudart=$(ls "$bundled"/libcudart-*.so.12* 2>/dev/null | head -n1 || true)
[ -n "$cudart" ] || { echo "perf_analyzer: no libcudart-*.so.12* in $bundled" >&2; exit 1; }
link_into_lib libcudart.so.12 "$cudart"

system_libs=$(ldconfig -p 2>/dev/null || true)  # captured first: grep -q on a pipe would SIGPIPE it under pipefail
if grep -q 'libb64\.so\.0d ' <<<"$system_libs"; then
  rm -f "$dest/lib/libb64.so.0d"  # the system's copy is found by the loader
  b64="system (Debian libb64-0d)"
else
  echo "NOTE: perf_analyzer needs libb64.so.0d from the Debian package libb64-0d, which is not installed:" >&2
  echo "      sudo apt-get install libb64-0d   (make setup does this when run as root)" >&2
  fallback=$(ls "$bundled"/libb64-*.so.0d 2>/dev/null | head -n1 || true)
  if [ -z "$fallback" ]; then
    echo "perf_analyzer: and nvidia-pytriton bundles no libb64 to fall back on; install libb64-0d" >&2
    exit 1
  fi
  link_into_lib libb64.so.0d "$fallback"
  b64="fallback: $(basename "$fallback") bundled by nvidia-pytriton"
  echo "      using the copy bundled by nvidia-pytriton meanwhile ($fallback)" >&2
fi

# 4. The wrapper: the binary's library directory on LD_LIBRARY_PATH, then exec.
cat > "$dest/perf_analyzer.tmp" <<'SH'
#!/bin/sh
# perf_analyzer 2.41.0 from the tritonclient wheel; written by ci/setup/install-perf-analyzer.sh.
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "$here/bin/perf_analyzer" "$@"
SH
chmod 0755 "$dest/perf_analyzer.tmp"
mv "$dest/perf_analyzer.tmp" "$dest/perf_analyzer"

# 5. Check that it loads and is the expected version (`--version` prints without a trailing newline).
got=$("$dest/perf_analyzer" --version 2>&1 || true)
case "$got" in
  *"Perf Analyzer Version $VERSION"*) echo "perf_analyzer: $got at .tools/perf_analyzer/perf_analyzer (libb64: $b64)" ;;
  *) echo "perf_analyzer: .tools/perf_analyzer/perf_analyzer --version failed:" >&2
     echo "$got" >&2
     LD_LIBRARY_PATH="$dest/lib" ldd "$dest/bin/perf_analyzer" | grep 'not found' >&2 || true
     exit 1 ;;
esac
