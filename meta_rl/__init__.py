"""Deep meta-RL ("Learning to Reinforcement Learn", Wang et al. 2016) in TF2/Keras.

Modules: `agent` (recurrent actor-critic), `losses` (A2C loss), `training`
(in-graph and dm_env drivers), `runner` (run dirs, checkpoints, logging),
`export` (SavedModel contract), `evaluation` (frozen test episodes),
`baselines` (classic bandit algorithms), `metrics`.
"""

try:
  import tensorflow as _tf  # noqa: F401
except ImportError as e:  # pragma: no cover
  raise ImportError(
      'meta_rl needs TensorFlow 2.21: pip install -e ".[cpu]" (tensorflow-cpu) '
      'or pip install -e ".[tensorflow]"') from e

__version__ = '0.1.0'
