r"""How well does the agent's hidden state encode the Bayesian sufficient
statistics of a two-armed Bernoulli bandit?

`decode` reads a record of `launch/evaluate.py --record` (independent task)
and decodes, for every step, the Beta(1, 1) posterior mean of each arm
given the episode's rewards so far linearly (ridge regression) from the
LSTM state the agent acts on, training on 80% of the episodes and reporting
R^2 on the other 20%, with a control that decodes the same targets from the
trial index alone; `plot` draws the decoded against the true posterior mean
difference and a PCA of the hidden state coloured by it; `summary_line` is
the printed result.
"""

import numpy as np

from meta_rl import files


def decode(path, ridge):
  """The decoding of the record at `path` with ridge penalty `ridge`.
  Returns `(result, figure)`: the report (R^2 of each arm's posterior mean,
  of their difference and of the control) and what `plot` draws. A record
  without hidden states or arm probabilities, of another task than
  `independent` or not of two arms raises ValueError."""
  rec = np.load(path)
  states = sorted(k for k in rec.files if k.startswith('state_'))
  if not states or 'info_arm_probs' not in rec.files:
    raise ValueError(f'{path} has no hidden states or arm probabilities; '
                     'record it with evaluate.py --record on a two-armed '
                     'bandit')
  task = str(rec['task']) if 'task' in rec.files else None
  if task != 'independent':
    raise ValueError(f'{path} is a record of task {task!r}; the decoder '
                     'computes Beta(1, 1) posteriors of independent arms, so '
                     'it needs a record of --task=independent')
  actions, rewards = rec['actions'], rec['rewards']
  n, t_max = actions.shape
  if rec['info_arm_probs'].shape[-1] != 2:
    raise ValueError('posterior decoding needs a two-armed bandit record')
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
    w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ y[train])
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
  result = {'record': path, 'episodes': int(n),
            'state_tensors': [k[len('state_'):] for k in states],
            'r2_posterior_mean_arm': r2,
            'r2_posterior_mean_difference': float(r2_diff),
            'r2_control_trial_index_only': r2_time}
  figure = {'diff_true': diff_true, 'diff_pred': diff_pred, 'r2_diff': r2_diff,
            'features': features, 'post': post}
  return result, figure


def plot(path, figure):
  """Decoded vs true posterior mean difference (held-out episodes); the
  first two principal components of the state at mid-episode coloured by
  the posterior mean difference."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  diff_true, diff_pred = figure['diff_true'], figure['diff_pred']
  r2_diff, features, post = (figure['r2_diff'], figure['features'],
                             figure['post'])
  n, t_max = post.shape[:2]
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
  files.save_figure(fig, path, dpi=120)


def summary_line(result):
  """The printed result: the R^2 of each decoding."""
  r2, r2_time = (result['r2_posterior_mean_arm'],
                 result['r2_control_trial_index_only'])
  return (f'R^2 of posterior means from the state (held out): '
          f'{r2[0]:.3f}, {r2[1]:.3f}; difference '
          f'{result["r2_posterior_mean_difference"]:.3f}; '
          f'trial index alone: {r2_time[0]:.3f}, {r2_time[1]:.3f}')
