#!/usr/bin/env bash
# DVSNet decision-network test cases for one backbone, made by the engine (issue 16): virtual-camera clips of CamVid
# stills (distances 0..10), real 24 Hz DAVIS video at three key phases and a 10 Hz street video (distances 0..30),
# plus the five held-out DAVIS sequences (evaluation only: train_decision.py's --heldout).
#   models/train/make_decision_cases.sh [SEG] [OUT]      camvid: SEG = seg (default) or seg-large
#   models/train/make_decision_cases.sh synthetic [OUT]  the synthetic world (its own seg and flow)
# OUT defaults to out/decision-cases/<SEG>; each case set is a folder of it. EXTRA: flags for every run (a rehearsal:
# EXTRA="--frames 12"); OFFSETS: the DAVIS key phases (default "0 10 20"); VTEST_FRAMES: frames of vtest.avi (default
# all 795); MODELS: the model set (--models; default the graphs' own). Then: models/train/train_decision.py --cases OUT/{motion,davis-o0,...} --heldout OUT/heldout-*.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEG=${1:-seg}
OUT=${2:-out/decision-cases/$SEG}
EXTRA=${EXTRA:-}
OFFSETS=${OFFSETS:-0 10 20}
VTEST_FRAMES=${VTEST_FRAMES:-}
MODELS=${MODELS:-}
HELDOUT_DAVIS="[drift-straight, goat, motocross-jump, parkour, soapbox]"
run() { # graph, case folder, flags...
  local graph=$1 dir=$2
  shift 2
  rm -rf "$dir"
  # shellcheck disable=SC2086 # EXTRA is a list of flags
  deno task --quiet run "$graph" --quiet ${MODELS:+--models "$MODELS"} --set tensors.dir="$dir" "$@" $EXTRA
  echo "$dir: $(wc -l <"$dir/frames.jsonl") cases" >&2
}
if [ "$SEG" = synthetic ]; then
  # World clips at the world's own 15 Hz and at 2x/4x speed (a faster camera, or 7.5 / 3.75 Hz), keys every 31 frames.
  G=graphs/tools/dvsnet-testcases-synthetic.yaml
  for s in 1 2 4; do
    run $G "$OUT/world-s$s" --set decide.every=31 --set source.speed=$s --set source.seed=$((400 + s)) --set source.frames=248
  done
  run $G "$OUT/world-s1-o15" --set decide.every=31 --set decide.offset=15 --set source.seed=410 --set source.frames=248
  run $G "$OUT/heldout-world" --set decide.every=31 --set source.speed=2 --set source.seed=950 --set source.frames=124
  exit 0
fi
V=graphs/tools/dvsnet-testcases-video.yaml
run graphs/tools/dvsnet-testcases.yaml "$OUT/motion" --set models.seg="$SEG"
for o in $OFFSETS; do run $V "$OUT/davis-o$o" --set models.seg="$SEG" --set decide.offset=$o; done
run $V "$OUT/vtest" --set models.seg="$SEG" --input ../shared/data/video/vtest.avi ${VTEST_FRAMES:+--frames $VTEST_FRAMES}
run $V "$OUT/heldout-davis" --set models.seg="$SEG" --set "source.sequences=$HELDOUT_DAVIS"
