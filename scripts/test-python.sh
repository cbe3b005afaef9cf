#!/usr/bin/env bash
# The Python bridge's tests (harness/python): installs the package with
# numpy, safetensors and pytest, and torch when the disk has room for it
# (the PyPI wheel brings ~4 GB of CUDA libraries; without torch the
# nn.Module tests are skipped and say so, the numpy parity tests still run).
# Needs the `last` binary: $LAST_BIN, default target/debug/last (built by
# `cargo test`). Fails on any test failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export LAST_BIN=${LAST_BIN:-$PWD/target/debug/last}
[ -x "$LAST_BIN" ] || cargo build --locked -p last
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python3 -m pip install --quiet -e './harness/python[test]'
if ! python3 -c 'import torch' 2>/dev/null; then
    free_gb=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
    if [ "${LAST_SKIP_TORCH:-0}" != 1 ] && [ "$free_gb" -ge 12 ]; then
        echo "installing torch (${free_gb} GB free)"
        python3 -m pip install --quiet torch
    else
        echo "WARNING: torch not installed (${free_gb} GB free, LAST_SKIP_TORCH=${LAST_SKIP_TORCH:-0}): the PyTorch tests will be skipped"
    fi
fi
cd harness/python
python3 -m pytest -q -rs tests
