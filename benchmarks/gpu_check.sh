#!/usr/bin/env bash
# The GPU check: exactness and loss tests on CUDA, then the quick benchmark on CUDA, in under
# five minutes. Tables go to bench-results/gpu/ (and stdout).
#
#   bash benchmarks/gpu_check.sh            # from the repository root, with .venv set up
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench-results/gpu
mkdir -p "$out"
python=.venv/bin/python
"$python" - <<'PY' | tee "$out/device.txt"
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
PY
# CUDA tests are marked `cuda`; the exactness suites run on CPU inputs and then on CUDA via
# METRICLOSS_TEST_DEVICE.
METRICLOSS_TEST_DEVICE=cuda timeout 150 "$python" -m pytest -q -x -m "cuda or not cuda" \
    tests/test_exactness.py tests/test_loss.py tests/test_pckh.py tests/test_count_metrics.py \
    2>&1 | tail -n 5 | tee "$out/tests.txt"
timeout 140 "$python" benchmarks/loss_speed.py --quick --device cuda --json "$out/loss_speed.json" \
    2>&1 | tee "$out/loss_speed.txt"
