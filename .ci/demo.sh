#!/bin/sh
# make demo: train the quick objects3d preset on-line, evaluate it beside its controls,
# write the report (Markdown and figures) and print the path to open.
set -e
exe=${1:-bin/seqjepa}
cfg=configs/objects3d-quick.ini
out=runs/objects3d-quick
"$exe" train "$cfg" train.out="$out" --force  # a new demo replaces the previous one
"$exe" eval "$cfg" --ckpt "$out/checkpoint.safetensors"
echo "demo: the run is in $out (log.csv, checkpoint.safetensors, eval.json, eval.md)"
echo "demo: open $out/report.md (its figures beside it; overview.png holds all four)"
