#!/bin/bash
# Mutation check: each mutation below, applied alone to a worktree of HEAD,
# must make its test file fail. Prints one line per mutation ("caught" or
# "SURVIVED") and exits 1 if any survived. Usage: bash tests/mutations.sh
# (from the repository, with its .venv). A few minutes on 2 cores.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WT=$(mktemp -d)/mutations
git -C "$REPO" worktree add -q --detach "$WT" HEAD
trap 'git -C "$REPO" worktree remove --force "$WT"' EXIT
source "$REPO/.venv/bin/activate"
cd "$WT"
export PYTHONPATH="$WT"
survived=0
mutate() {  # name file old new test...
  local name=$1 file=$2 old=$3 new=$4; shift 4
  git checkout -q -- .
  python3 - "$file" "$old" "$new" <<'PY' || { echo "$name: pattern not found"; survived=1; return; }
import sys
f, old, new = sys.argv[1:4]
s = open(f).read()
if old not in s:
  sys.exit(1)
open(f, 'w').write(s.replace(old, new))
PY
  if timeout 1200 python -m pytest -q -x -p no:cacheprovider "$@" >/dev/null 2>&1; then
    echo "$name: SURVIVED ($*)"; survived=1
  else
    echo "$name: caught ($*)"
  fi
}
mutate entropy meta_rl/losses.py \
  "loss = policy_loss + beta_v * value_loss - beta_e * entropy" \
  "loss = policy_loss + beta_v * value_loss" tests/test_losses.py
mutate autoreset environments/core.py \
  "    return (select(out.last, reset_state, next_state),
            select(out.last, reset_obs, out.observation))" \
  "    return (select(out.last, next_state, reset_state),
            select(out.last, out.observation, reset_obs))" tests/test_engine.py
mutate reward_input meta_rl/agent.py \
  "    if not self.config.use_reward_input:
      encoded = tf.zeros_like(encoded)" \
  "    encoded = tf.zeros_like(encoded)" tests/test_agent.py
mutate rollout_keys meta_rl/evaluation/rollout.py \
  "core.step(core_lib.fold_in(root, t), env_state, action)" \
  "core.step(core_lib.fold_in(root, t + 1), env_state, action)" \
  tests/test_engine.py
mutate heldout_first_episode meta_rl/run/heldout.py \
  "          tf.logical_and(tr.step.last, tr.alive))" \
  "          tr.step.last)" tests/test_heldout.py
mutate spec_train meta_rl/spec.py \
  "            'train': dataclasses.asdict(self.train)}" \
  "            'train': dataclasses.asdict(TrainConfig())}" tests/test_spec.py
git checkout -q -- .
exit $survived
