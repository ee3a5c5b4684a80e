"""Throughput of a shipped configuration as its run trains: the training step
and, with `--eval_every` in the flagfile, the held-out evaluations amortised
over the updates between them.

  python benchmarks/flagfile.py --launcher=harlow \
      --flagfile=launch/configs/harlow.cfg [--seconds=60] [--set=--core=stacked_lstm]

Builds the run's task, agent and trainer from the flagfile exactly as the
launcher does (`common.job_from_flags`), compiles the update, then times
updates for --seconds (median of three windows, as benchmarks/throughput.py)
and, if the flagfile evaluates while training, times one held-out evaluation
of the untrained agent (the slowest case: its episodes run to the task's
step limit; a trained agent finishes sooner). Prints decisions/s of the step
alone and with the evaluations amortised (one every eval_every updates).
Compare two flagfiles (e.g. a configuration before and after a change) in
one sitting, one after the other; the machine is shared and noisy.
"""

import argparse
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'launch'))

from absl import flags  # pylint: disable=g-import-not-at-top

import common  # pylint: disable=g-import-not-at-top
from meta_rl import agent as agent_lib  # pylint: disable=g-import-not-at-top
from meta_rl.run import heldout  # pylint: disable=g-import-not-at-top
from meta_rl import training  # pylint: disable=g-import-not-at-top

sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
from throughput import measure  # pylint: disable=g-import-not-at-top


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--launcher', required=True,
                      help='launch/<launcher>.py whose flags the file sets')
  parser.add_argument('--flagfile', required=True)
  parser.add_argument('--set', action='append', default=[],
                      help='a flag after the flagfile, e.g. --set=--seed=1')
  parser.add_argument('--seconds', type=float, default=60.0)
  args = parser.parse_args()
  launcher = __import__(args.launcher)
  fv = flags.FlagValues()
  launcher.define_flags(fv)
  fv(['x', f'--flagfile={args.flagfile}', '--run_dir=unused', *args.set])
  job = common.job_from_flags(launcher.make_task, fv)
  core = job.task.make_core()
  net = agent_lib.make_agent(core.observation_spec(), core.num_actions,
                             job.agent)
  trainer = training.InGraphTrainer(core, net, job.a2c, job.train)
  steps = measure(trainer, args.seconds)
  update_secs = trainer.env_steps_per_update / steps
  line = (f'{args.flagfile} {" ".join(args.set)}: step {steps:,.0f} '
          'decisions/s')
  if job.run.eval_every:
    evaluator, _ = heldout.evaluator_for(
        job.task.name, job.task.kwargs, job.task.action_repeat, net,
        job.run.eval_episodes, job.run.eval_seed)
    evaluator()  # compile
    t0 = time.perf_counter()
    scalars = evaluator()
    eval_secs = time.perf_counter() - t0
    with_eval = (job.run.eval_every * trainer.env_steps_per_update /
                 (job.run.eval_every * update_secs + eval_secs))
    line += (f'; one held-out evaluation ({job.run.eval_episodes} episodes, '
             f'{scalars["heldout_steps"]:,.0f} decisions, untrained agent) '
             f'{eval_secs:.2f} s every {job.run.eval_every} updates '
             f'({job.run.eval_every * update_secs:.1f} s): {with_eval:,.0f} '
             f'decisions/s ({with_eval / steps - 1:+.1%})')
  print(line, flush=True)


if __name__ == '__main__':
  main()
