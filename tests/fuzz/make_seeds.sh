#!/bin/sh
# Regenerates the seed corpora tests/fuzz/<harness>/seed-* from the program's own output:
# its writers (fuzz_seeds), a tiny generated saccade dataset (packed for the dataset
# harness, its manifest, records, .npy files and dataset.ini), a one-step checkpoint's
# header, the shipped configs, and event scripts covering every event kind.
#   usage: make_seeds.sh SEQJEPA_EXE FUZZ_SEEDS_EXE
set -e
exe=$1
seeds=$2
root=tests/fuzz
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sjseeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
"$seeds" "$root"
mkdir -p "$root/dataset" "$root/json" "$root/config" "$root/script"

tiny="env.size=8 env.scene_size=16 env.fovea=8 env.n_scenes=10 env.heldout=0.2 env.ior_radius=4 \
gen.train_seqs=3 gen.val_seqs=2 gen.views=2 gen.shard_size=2"
# shellcheck disable=SC2086
"$exe" gen configs/saccade-quick.ini --out "$tmp/ds" $tiny --quiet >/dev/null
# shellcheck disable=SC2086
"$exe" gen configs/saccade-quick.ini --out "$tmp/ds0" $tiny env.heldout=0 gen.val_seqs=0 \
  env.saliency=uniform gen.train_seqs=1 --quiet >/dev/null
python3 "$root/pack.py" "$tmp/ds" "$root/dataset/seed-saccade.pack"
python3 "$root/pack.py" "$tmp/ds0" "$root/dataset/seed-saccade-noval.pack"
cp "$tmp/ds/manifest.json" "$root/json/seed-manifest.json"
cp "$tmp/ds/train/shard-00000/shard.json" "$root/json/seed-shard.json"
cp "$tmp/ds/dataset.ini" "$root/config/seed-dataset.ini"
for f in images labels actions saliency; do
  cp "$tmp/ds/train/shard-00000/$f.npy" "$root/npy/seed-dataset-$f.npy"
done
# shellcheck disable=SC2086
"$exe" train configs/saccade-quick.ini "data=$tmp/ds" $tiny model.width=4 model.action_emb=16 \
  model.layers=1 model.pred_hidden=32 train.batch=2 train.m_train=1 train.steps=1 \
  train.threads=1 "train.out=$tmp/run" >/dev/null 2>&1
python3 - "$tmp/run/checkpoint.safetensors" "$root/json/seed-checkpoint-header.json" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
open(sys.argv[2], "wb").write(b[8:8 + n].rstrip(b" "))
PY
for c in configs/*.ini; do cp "$c" "$root/config/seed-$(basename "$c")"; done
printf '[env]\nkind = saccade\n%%%%\ntrain.out=runs/x\nenv.size=32\nmodel.lr=1\neval.m_max=3\n' \
  >"$root/config/seed-overrides.txt"
cat >"$root/script/seed-all-events.txt" <<'TXT'
# every event kind once
0 key Tab
1 key shift+W
2 drag 0.1 -0.25
3 click 0.5 0.5
4 rotate 0 1 0 0.3
5 translate 0.1 0 -0.1
6 look_at 0.25 0.75
7 look_by -0.1 0.1
8 wait_steps 2
9 resize 640 480   # comment
TXT
printf '0 key Right\n0 key Left\n3 wait_steps 1\n' >"$root/script/seed-keys.txt"
