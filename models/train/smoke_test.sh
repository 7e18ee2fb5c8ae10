#!/usr/bin/env bash
# Smoke test of the CamVid training scripts: 2 iterations on 4 frames at 64x96 per model, export to a temp
# dir, then (if deno is available) check the cuts with onnxruntime-node. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/camvid}
if [ ! -d "$DATA/train" ]; then echo "smoke_test: CamVid data not found at $DATA (set DATA=...)" >&2; exit 1; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for arch in seg seg-lite; do
  /usr/bin/python3 models/train/train_seg.py --data "$DATA" --out "$TMP/out" --arch "$arch" --iters 2 --limit 4 \
    --size 64 96 --batch 2 --crop 64 96 --ckpt "$TMP/ckpt-$arch.pt" 2>&1 | grep -v -i warn
  test -s "$TMP/out/$arch.onnx"
done
for f in seg-s1 seg-s2 seg-s3 seg-fuse seg-features seg-head; do test -s "$TMP/out/$f.onnx"; done
/usr/bin/python3 models/train/export_seg.py --ckpt "$TMP/ckpt-seg.pt" --out "$TMP/re" 2>&1 | grep -v -i warn
if command -v deno >/dev/null; then
  deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/verify_cuts.ts "$TMP/out" 64 96
fi
echo "smoke_test: OK"
