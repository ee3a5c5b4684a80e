r"""How well does the agent's hidden state encode the Bayesian sufficient
statistics of a two-armed Bernoulli bandit?

  python launch/evaluate.py --saved_model=runs/independent/saved_model \
      --num_episodes=2000 --record=runs/independent/eval/record.npz
  python launch/decode_posterior.py --record=runs/independent/eval/record.npz

For every step, the Beta(1, 1) posterior mean of each arm given the episode's
rewards so far (what a Bayes-optimal player tracks) is decoded linearly (ridge
regression) from the LSTM state that the agent acts on (records of the
independent task only: the posterior is that of independent Beta(1, 1) arms), training on 80% of the
episodes and reporting R^2 on the other 20%. A control decodes the same
targets from the trial index alone. Writes <record>_decoding.json and .png
(decoded vs true posterior mean difference; PCA of the hidden state coloured by
it).
"""

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl.experiments import posterior

flags.DEFINE_string('record', None, 'An .npz written by evaluate.py --record.')
flags.DEFINE_float('ridge', 1e-2, 'Ridge penalty.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  import os  # pylint: disable=g-import-not-at-top
  if not FLAGS.record or not os.path.exists(FLAGS.record):
    common.fail(f'--record file not found: {FLAGS.record}')
  base = FLAGS.record[:-4] if FLAGS.record.endswith('.npz') else FLAGS.record
  out_json, out_png = base + '_decoding.json', base + '_decoding.png'
  for p in (out_json, out_png):
    if os.path.exists(p) and not FLAGS.overwrite:
      common.fail(f'{p} exists; pass --overwrite')
  try:
    result, figure = posterior.decode(FLAGS.record, FLAGS.ridge)
  except ValueError as e:
    common.fail(str(e))
  files.write_json(out_json, result)
  posterior.plot(out_png, figure)
  print(posterior.summary_line(result))
  print(f'wrote {out_json} and {out_png}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
