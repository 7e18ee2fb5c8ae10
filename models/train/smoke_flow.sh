#!/usr/bin/env bash
# Smoke test of the flow training scripts: 2 iterations on 4 frames at 96x128 (crops 64x96, a bank of 8 pairs),
# then a resumed third, export and card to a temp dir, standalone re-export from the checkpoint, a stride-4 model
# (--out-stride 4) with its cuts, then (if deno is available) card validation against the ONNX
# file and the RubberWhale evaluation with onnxruntime-node. Run from anywhere; about 10 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/camvid}
if [ ! -d "$DATA/train" ]; then echo "smoke_flow: CamVid data not found at $DATA (set DATA=...)" >&2; exit 1; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 models/train/train_flow.py --data "$DATA" --out "$TMP/out" --iters 2 --limit 4 --size 96 128 \
  --batch 2 --crop 64 96 --heldout 2 --bank 8 --bank-size 80 112 --ckpt "$TMP/ckpt-flow.pt" 2>&1 |
  grep -v -i -e warn -e _jit_pass
test -s "$TMP/ckpt-flow.pt"
# resumable: a longer run continues from the 2-iteration checkpoint
/usr/bin/python3 models/train/train_flow.py --data "$DATA" --out "$TMP/out" --iters 3 --limit 4 --size 96 128 \
  --batch 2 --crop 64 96 --heldout 2 --bank 8 --bank-size 80 112 --ckpt "$TMP/ckpt-flow.pt" --resume 2>&1 |
  grep -e "resumed from" -e "^it 3/3"
test -s "$TMP/out/flow.onnx"
test -s "$TMP/out/flow.yaml"
/usr/bin/python3 models/train/export_flow.py --ckpt "$TMP/ckpt-flow.pt" --out "$TMP/re" 2>&1 | grep -v -i -e warn -e _jit_pass
test -s "$TMP/re/flow.onnx"
# the optional stride-4 output: a fine-tune from the model above, exported as flow-s4 with its cuts
/usr/bin/python3 models/train/train_flow.py --data "$DATA" --out "$TMP/out" --iters 2 --limit 4 --size 96 128 \
  --batch 2 --crop 64 96 --heldout 2 --bank 8 --bank-size 80 112 --ckpt "$TMP/ckpt-s4.pt" --out-stride 4 \
  --init-onnx "$TMP/out/flow.onnx" --init-levels 3 2>&1 | grep -v -i -e warn -e _jit_pass
test -s "$TMP/out/flow-s4.onnx"
grep -q "stride: 4" "$TMP/out/flow-s4.yaml"
/usr/bin/python3 models/train/export_flow.py --from-onnx "$TMP/out/flow-s4.onnx" --out "$TMP/out" --cuts 2>&1 |
  grep -v -i -e warn -e _jit_pass
test -s "$TMP/out/flow-s4-encode.onnx"
grep -q "pyramid4" "$TMP/out/flow-s4-encode.yaml"
MB=$(dirname "$DATA")/flow/middlebury
if command -v deno >/dev/null && [ -f "$MB/rubberwhale_gt.flo" ]; then
  deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/eval_flow.ts "$TMP/out/flow.onnx" "$MB"
fi
echo "smoke_flow: OK"
