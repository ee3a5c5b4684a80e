"""A2C training of the meta-RL agent: an in-graph driver and a dm_env driver.

Modules: `config` (A2CConfig, TrainConfig, the optimizer), `learner` (the
update both trainers share), `in_graph` (InGraphTrainer), `python_env`
(PythonEnvTrainer).

`InGraphTrainer` runs B copies of a batched TF core (the synchronous
equivalent of the paper's threads). One `tf.function` plays an unroll of K
steps of environment and agent with core and heads on a gradient tape, then
applies the A2C gradient. The observation encoder is differentiated once on
all K*B frames after the loop, not step by step inside it (see
`InGraphTrainer._unroll_and_update`); the gradient equals that of recomputing
the recorded unroll with `agent.unroll`, as seed_rl's learner does.
Environment state, agent state, the previous action/reward and running
episode sums live in `tf.Variable`s, carry across unrolls (truncated BPTT)
and are checkpointed, so a resumed run continues exactly where it stopped.

`PythonEnvTrainer` trains the same agent on a list of B user-supplied
`dm_env.Environment`s, stepping them from Python and learning from the
recorded unroll with `agent.unroll` (the encoder once on all (K+1)*B
observations).

Both expose `train_step() -> dict of floats` (see `meta_rl.metrics` for the
`sum/` keys), `checkpoint`, `num_updates`, `total_updates`, `env_steps`,
`frames`, `progress_metrics`, `derived_metrics`, `episode_metric_names` and
`histograms()`; `meta_rl.run.run` drives either.

Histograms come out of the same compiled update as the scalars, at no extra
pass: the update also returns the policy logits [K, B, A] and values [K, B]
it computed for the loss (kept as tensors, read only when `histograms()` is
called) and each layer's gradient norm (a vector of L floats, which
`train_step` collects); see `histograms`.
"""

from meta_rl.training.config import (A2C_OPTIONAL, A2C_RANGES, BETA_E_MAX,
                                     BETA_E_MIN, OPTIMIZERS, A2CConfig,
                                     TrainConfig, in_range, make_optimizer)
from meta_rl.training.in_graph import InGraphTrainer
from meta_rl.training.learner import NonFiniteLossError, layer_names
from meta_rl.training.python_env import PythonEnvTrainer

__all__ = ['A2C_OPTIONAL', 'A2C_RANGES', 'BETA_E_MAX', 'BETA_E_MIN',
           'OPTIMIZERS', 'A2CConfig', 'TrainConfig', 'in_range',
           'make_optimizer', 'InGraphTrainer', 'NonFiniteLossError',
           'layer_names', 'PythonEnvTrainer']
