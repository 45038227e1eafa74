#!/usr/bin/env bash
# The GPU check: the exactness and loss tests on CUDA, the loss under torch.compile on CUDA, then
# `metricloss bench --quick` on CUDA, in about five minutes. Tables go to bench-results/gpu/ (and stdout).
#
#   bash benchmarks/gpu_check.sh                  # from anywhere; runs in the repository root
#   PYTHON=python3 bash benchmarks/gpu_check.sh   # a python with CUDA torch (default: .venv's, else python3)
#
# Where metricloss is not importable yet it is installed in place first, without dependencies
# (torch, numpy, sympy, networkx, pytest, hypothesis and scikit-learn are expected to be there).
set -uo pipefail
cd "$(dirname "$0")/.."
out=bench-results/gpu
mkdir -p "$out"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
status=0

if ! "$PYTHON" -c "import metricloss, metricloss_benchmarks, metricloss_builtins" 2>/dev/null; then
    echo "installing metricloss in place for $PYTHON"
    "$PYTHON" -m pip install -q --no-deps --no-build-isolation -e . || { echo "install failed"; exit 1; }
fi

"$PYTHON" - <<'PY' 2>&1 | tee "$out/device.txt"
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
PY
[[ ${PIPESTATUS[0]} -eq 0 ]] || exit 1

# CUDA tests are marked `cuda`; the exactness suites run on CPU inputs and then on CUDA via
# METRICLOSS_TEST_DEVICE. -p no:cacheprovider: the tree may be read-only for .pytest_cache.
METRICLOSS_TEST_DEVICE=cuda timeout 150 "$PYTHON" -m pytest -q -x -p no:cacheprovider -m "cuda or not cuda" \
    tests/test_exactness.py tests/test_exact_evaluator.py tests/test_loss.py tests/test_pckh.py tests/test_count_metrics.py \
    2>&1 | tail -n 5 | tee "$out/tests.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "CUDA tests failed or timed out (see $out/tests.txt)"; status=1; }
# The loss under torch.compile on CUDA: its CUDA test alone (inductor's first compile takes a while).
timeout 120 "$PYTHON" -m pytest -q -x -p no:cacheprovider -m cuda tests/test_torch_compile.py \
    2>&1 | tail -n 3 | tee -a "$out/tests.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "CUDA compile test failed or timed out (see $out/tests.txt)"; status=1; }

timeout 150 "$PYTHON" -m metricloss bench --quick --device cuda --json "$out/bench.json" \
    2> "$out/bench.stderr.txt" | tee "$out/bench.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "bench failed or timed out (see $out/bench.stderr.txt)"; status=1; }
exit $status
