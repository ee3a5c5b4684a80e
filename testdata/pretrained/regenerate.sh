#!/usr/bin/env bash
# Re-exports the shipped policies (testdata/pretrained/<name>/1) from the
# checkpoints of the runs that trained them; README.md here gives the command
# that trained each run. Usage, from the repository root after training:
#   bash testdata/pretrained/regenerate.sh            # all, from runs/<run>
#   bash testdata/pretrained/regenerate.sh two_step   # some
# then `python tests/test_pretrained.py` prints the numbers to record in
# tests/test_pretrained.py (RECORDED) and README.md here.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
# name -> run dir [checkpoint update, or best (the run's best held-out
# checkpoint, which its --export=best wrote at its end); default: the latest].
declare -A RUN=(
  [independent]=runs/independent [uniform]=runs/uniform [easy]=runs/easy
  [medium]=runs/medium [hard]=runs/hard_cfg [informative]=runs/informative
  [restless]=runs/restless [two_step]=runs/two_step
  [harlow]="runs/clip05_harlow_s0 best" [navigation]="runs/nav_r1h_s0 5323")
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(independent uniform easy medium hard informative restless two_step harlow navigation)
for name in "${names[@]}"; do
  [ -n "${RUN[$name]:-}" ] || { echo "error: unknown policy $name" >&2; exit 2; }
  read -r run checkpoint <<< "${RUN[$name]}"
  if [ "${checkpoint:-}" = best ]; then
    which=(--best)
  else
    which=(${checkpoint:+--checkpoint=$checkpoint})
  fi
  path=$($PY launch/export.py --run_dir="$run" "${which[@]}")
  rm -rf "testdata/pretrained/$name"
  mkdir -p "testdata/pretrained/$name"
  cp -r "$path" "testdata/pretrained/$name/1"
  # The copy is version 1 of its base path; its metadata says so.
  "$PY" - "testdata/pretrained/$name/1/assets.extra/meta_rl.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
  meta = json.load(f)
meta['version'] = 1
with open(sys.argv[1], 'w') as f:
  json.dump(meta, f, indent=2, sort_keys=True)
PY
  echo "$name <- $path ($(du -sh "testdata/pretrained/$name/1" | cut -f1))"
done
