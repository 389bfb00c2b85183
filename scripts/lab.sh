#!/usr/bin/env bash
# Set up a fresh machine, train the lab's model and render the lab's three figures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p runs
.venv/bin/python train.py -z 8 -e 50 -b 2048 -s runs/MLP.8.pth -p runs/loss.MLP.8.png --seed 0
.venv/bin/python lab1.py -l runs/MLP.8.pth --index 90 --pair 0 1 --seed 0 --out runs --no-show
