#!/usr/bin/env bash
# The GPU figures in one run: the CUDA tests, the benchmark (ours for 50 epochs, the lab's
# pipeline for a few), the lab's and the best recipe's 50-epoch runs through train.py, one
# run under torchrun, and every other command once on the GPU. Needs MNIST's four .gz files
# in $MNIST_GZ (default .gpu/). Writes logs and results under $OUT (default runs/gpu).
# PARTS picks some of: tests bench train torchrun commands (default all).
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
PARTS=${PARTS:-tests bench train torchrun commands}
want() { [[ " $PARTS " == *" $1 "* ]]; }

step() { echo; echo "== $*"; }
step machine
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used --format=csv 2>/dev/null
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

want tests && step tests && \
$PY -m pytest -q -p no:cacheprovider --tb=short tests/test_cuda_graph.py tests/test_fast_step.py 2>&1 | tee "$OUT/tests.log" | tail -30

want bench && step "benchmark: $EPOCHS epochs, the lab's pipeline $LAB_EPOCHS" && \
$PY -m aelab bench --device "$DEVICE" --epochs "$EPOCHS" --lab-epochs "$LAB_EPOCHS" \
    --precision fp32 tf32 bf16 --data-root "$DATA" --out "$OUT" 2>&1 | tail -12

want train && for recipe in lab best; do
    step "train.py --recipe $recipe, $EPOCHS epochs"
    $PY train.py --recipe "$recipe" -z 8 -e "$EPOCHS" --seed 0 --device "$DEVICE" --no-progress \
        --data-root "$DATA" -s "$SCRATCH/MLP.8.$recipe.pth" 2>&1 | grep -v "^epoch  *[0-9]*/" | tee "$OUT/train-$recipe.log"
done

want torchrun && step "torchrun --nproc_per_node 1, 5 epochs" && \
$PY -m torch.distributed.run --standalone --nproc_per_node 1 train.py -z 8 -e 5 -b 2048 --seed 0 \
    --no-progress --data-root "$DATA" -s "$SCRATCH/ddp.pth" 2>&1 | tail -4

if want commands; then
    # Each command once on the GPU; run states moved between the CPU and the GPU are refused.
    M="$PY -m aelab"
    T="$PY train.py -z 8 --seed 0 --no-progress --data-root $DATA"
    C=$SCRATCH/commands && mkdir -p "$C"
    run() { echo "\$ $*" | sed "s|$SCRATCH|\$SCRATCH|g"; "$@" 2>&1 | grep -v "^epoch  *[0-9]*/" | tail -3; echo "exit ${PIPESTATUS[0]}"; }
    step "the other commands on $DEVICE"
    run $T -e 2 --device cpu -s "$C/cpu.pth"
    run $T -e 4 --device "$DEVICE" -s "$C/cpu.pth" --resume      # a CPU run on the GPU: refused
    run $T -e 2 --device "$DEVICE" -s "$C/gpu.pth"
    run $T -e 3 --device cpu -s "$C/gpu.pth" --resume            # a GPU run on the CPU: refused
    run $T -e 4 --device "$DEVICE" -s "$C/gpu.pth" --resume      # and on the GPU: continued
    run $T -e 2 --device "$DEVICE" --loader stream -s "$C/stream.pth"
    run $T -e 2 --device "$DEVICE" --precision bf16 -s "$C/bf16.pth"
    run $T -e 2 --device "$DEVICE" --recipe best -s "$C/best.pth"
    run $PY lab1.py -l "$C/gpu.pth" --data-root "$DATA" --index 90 --pair 0 1 --seed 0 --out "$C" --no-show
    run $M eval -l "$C/gpu.pth" --compare-to "$C/cpu.pth" --device "$DEVICE" --data-root "$DATA"
    run $M figures -l "$C/gpu.pth" --out "$C/latent" --data-root "$DATA"
    run $M sweep -z 2,8 -e 2 --recipe lab best --device "$DEVICE" --data-root "$DATA" --out "$C/sweep" --no-progress
fi
