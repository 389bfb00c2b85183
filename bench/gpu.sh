#!/usr/bin/env bash
# The GPU figures in one run: the CUDA tests, the benchmark (ours for 50 epochs, the lab's
# pipeline for a few), and the lab's and the best recipe's 50-epoch runs through train.py,
# plus one run under torchrun. Needs MNIST's four .gz files in $MNIST_GZ (default .gpu/).
# Writes logs and results under $OUT (default runs/gpu).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu}
DEVICE=${DEVICE:-cuda}
EPOCHS=${EPOCHS:-50}
LAB_EPOCHS=${LAB_EPOCHS:-3}
SCRATCH=$(mktemp -d)  # data and checkpoints; only logs and results go to $OUT
DATA=$SCRATCH/data
mkdir -p "$OUT" "$DATA/MNIST/raw"
for f in "${MNIST_GZ:-.gpu}"/*.gz; do gunzip -c "$f" > "$DATA/MNIST/raw/$(basename "$f" .gz)"; done
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

step() { echo; echo "== $*"; }
step machine
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used --format=csv 2>/dev/null
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

step tests
$PY -m pytest -q -p no:cacheprovider --tb=short tests/test_cuda_graph.py tests/test_fast_step.py 2>&1 | tee "$OUT/tests.log" | tail -30

step "benchmark: $EPOCHS epochs, the lab's pipeline $LAB_EPOCHS"
$PY -m mnist_ae bench --device "$DEVICE" --epochs "$EPOCHS" --lab-epochs "$LAB_EPOCHS" \
    --precision fp32 tf32 bf16 --data-root "$DATA" --out "$OUT" 2>&1 | tail -12

for recipe in lab best; do
    step "train.py --recipe $recipe, $EPOCHS epochs"
    $PY train.py --recipe "$recipe" -z 8 -e "$EPOCHS" --seed 0 --device "$DEVICE" --no-progress \
        --data-root "$DATA" -s "$SCRATCH/MLP.8.$recipe.pth" 2>&1 | grep -v "^epoch  *[0-9]*/" | tee "$OUT/train-$recipe.log"
done

step "torchrun --nproc_per_node 1, 5 epochs"
$PY -m torch.distributed.run --standalone --nproc_per_node 1 train.py -z 8 -e 5 -b 2048 --seed 0 \
    --no-progress --data-root "$DATA" -s "$SCRATCH/ddp.pth" 2>&1 | tail -4
