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

flags.DEFINE_string('record', None, 'An .npz written by evaluate.py --record.')
flags.DEFINE_float('ridge', 1e-2, 'Ridge penalty.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  import os  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  if not FLAGS.record or not os.path.exists(FLAGS.record):
    common.fail(f'--record file not found: {FLAGS.record}')
  base = FLAGS.record[:-4] if FLAGS.record.endswith('.npz') else FLAGS.record
  out_json, out_png = base + '_decoding.json', base + '_decoding.png'
  for p in (out_json, out_png):
    if os.path.exists(p) and not FLAGS.overwrite:
      common.fail(f'{p} exists; pass --overwrite')
  rec = np.load(FLAGS.record)
  states = sorted(k for k in rec.files if k.startswith('state_'))
  if not states or 'info_arm_probs' not in rec.files:
    common.fail(f'{FLAGS.record} has no hidden states or arm probabilities; '
                'record it with evaluate.py --record on a two-armed bandit')
  task = str(rec['task']) if 'task' in rec.files else None
  if task != 'independent':
    common.fail(f'{FLAGS.record} is a record of task {task!r}; the decoder '
                'computes Beta(1, 1) posteriors of independent arms, so it needs '
                'a record of --task=independent')
  actions, rewards = rec['actions'], rec['rewards']
  n, t_max = actions.shape
  if rec['info_arm_probs'].shape[-1] != 2:
    common.fail('posterior decoding needs a two-armed bandit record')
  # Counts before step t (the state at t has seen rewards up to t - 1).
  onehot = np.eye(2)[actions]  # [N, T, 2]
  succ = np.cumsum(onehot * rewards[..., None], 1) - onehot * rewards[..., None]
  pulls = np.cumsum(onehot, 1) - onehot
  post = (succ + 1.0) / (pulls + 2.0)  # [N, T, 2]
  features = np.concatenate([rec[k] for k in states], -1)  # [N, T, F]
  # The state recorded at step t is the one the agent chooses a_t from: it
  # has consumed a_{t-1}, r_{t-1}, so it pairs with the counts before t.
  x = features.reshape(-1, features.shape[-1])
  y = post.reshape(-1, 2)
  t_index = np.broadcast_to(np.arange(t_max)[None], (n, t_max)).reshape(-1)
  train = np.repeat(np.arange(n) < int(0.8 * n), t_max)

  def ridge_r2(xs):
    xs = np.concatenate([xs, np.ones((len(xs), 1))], 1)
    a = xs[train]
    w = np.linalg.solve(a.T @ a + FLAGS.ridge * np.eye(a.shape[1]), a.T @ y[train])
    pred = xs[~train] @ w
    resid = ((y[~train] - pred) ** 2).sum(0)
    total = ((y[~train] - y[~train].mean(0)) ** 2).sum(0)
    return (1 - resid / total).tolist(), pred

  r2, pred = ridge_r2(x)
  t_feats = np.stack([t_index / t_max, (t_index / t_max) ** 2], 1)
  r2_time, _ = ridge_r2(t_feats)
  diff_true = y[~train, 0] - y[~train, 1]
  diff_pred = pred[:, 0] - pred[:, 1]
  r2_diff = 1 - ((diff_true - diff_pred) ** 2).sum() / (
      (diff_true - diff_true.mean()) ** 2).sum()
  result = {'record': FLAGS.record, 'episodes': int(n),
            'state_tensors': [k[len('state_'):] for k in states],
            'r2_posterior_mean_arm': r2, 'r2_posterior_mean_difference': float(r2_diff),
            'r2_control_trial_index_only': r2_time}
  files.write_json(out_json, result)

  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
  pick = np.random.default_rng(0).choice(len(diff_true), min(5000, len(diff_true)),
                                         replace=False)
  axes[0].scatter(diff_true[pick], diff_pred[pick], s=2, alpha=0.3)
  axes[0].plot([-1, 1], [-1, 1], color='black', lw=0.8)
  axes[0].set_xlabel('Bayes posterior mean, arm 1 - arm 2')
  axes[0].set_ylabel('decoded from the LSTM state')
  axes[0].set_title(f'held-out episodes: R² = {r2_diff:.3f}')
  mid = t_max // 2
  h = features[:, mid]
  h = h - h.mean(0)
  _, _, vt = np.linalg.svd(h, full_matrices=False)
  pcs = h @ vt[:2].T
  sc = axes[1].scatter(pcs[:, 0], pcs[:, 1], c=post[:, mid, 0] - post[:, mid, 1],
                       cmap='coolwarm', s=4, vmin=-1, vmax=1)
  fig.colorbar(sc, ax=axes[1], label='posterior mean difference')
  axes[1].set_xlabel('PC 1')
  axes[1].set_ylabel('PC 2')
  axes[1].set_title(f'LSTM state at trial {mid} (0-based), {n} episodes')
  fig.tight_layout()
  files.save_figure(fig, out_png, dpi=120)
  print(f'R^2 of posterior means from the state (held out): '
        f'{r2[0]:.3f}, {r2[1]:.3f}; difference {r2_diff:.3f}; '
        f'trial index alone: {r2_time[0]:.3f}, {r2_time[1]:.3f}')
  print(f'wrote {out_json} and {out_png}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
