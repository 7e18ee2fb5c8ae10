#!/usr/bin/env bash
# Smoke test of the embedding training script: a tiny synthetic world (2 train + 1 val sequences of 4 frames at
# 96x128, written by `deno task synth`), 2 iterations, ONNX export to a temp dir; then the same with DAVIS-style real-video folders and a backbone
# from an exported seg-lite. Run from anywhere; about 20 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
deno task synth --out "$TMP/data" --frames 4 --sequences 2 --width 128 --height 96 --seed 100 --split train >/dev/null 2>&1
deno task synth --out "$TMP/data" --frames 4 --sequences 1 --width 128 --height 96 --seed 900 --split val >/dev/null 2>&1
/usr/bin/python3 models/train/train_embed.py --data "$TMP/data" --out "$TMP/out" --iters 2 --limit 2 --batch 2 \
  --crop 64 96 --anchors 32 --ckpt "$TMP/ckpt-embed.pt" 2>&1 | grep -v -i -e warn -e _jit_pass
test -s "$TMP/out/embed.onnx"
test -s "$TMP/out/embed.train.json"
# Real-video path: DAVIS 2016-style folders (here the same frames, masks read as one object) mixed with the world,
# the backbone from an exported segmentation network.
/usr/bin/python3 models/train/train_embed.py --data "$TMP/data" --davis "$TMP/data" --davis-train synth100,synth101 \
  --davis-val synth900 --init-onnx models/synthetic/seg-lite.onnx --out "$TMP/out2" --iters 2 --limit 2 --batch 2 \
  --crop 64 96 --anchors 32 --ckpt "$TMP/ckpt-embed2.pt" 2>&1 | grep -v -i -e warn -e _jit_pass
test -s "$TMP/out2/embed.onnx"
echo "smoke_embed: OK"
