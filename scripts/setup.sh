#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment with the package, and MNIST in ./data.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test,web,eval
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"

# MNIST: unpack local .gz copies when there are some (offline machines), else train.py downloads it.
gz_dir="${MNIST_GZ_DIR:-../shared/datasets/MNIST/raw}"
raw=data/MNIST/raw
if [ -d "$gz_dir" ] && [ ! -f "$raw/train-images-idx3-ubyte" ]; then
  mkdir -p "$raw"
  for f in "$gz_dir"/*-ubyte.gz; do gunzip -c "$f" > "$raw/$(basename "$f" .gz).tmp" && mv "$raw/$(basename "$f" .gz).tmp" "$raw/$(basename "$f" .gz)"; done
  echo "unpacked MNIST from $gz_dir into $raw"
fi
