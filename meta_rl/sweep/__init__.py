"""Hyperparameter sweeps as the paper ran them: search spaces, frozen
evaluation of each trained agent, top-k selection on split halves, report.

The paper sampled learning rate, discount and entropy cost at random
(following Mnih et al. 2016), trained 100 settings, chose the top 5 on the
first half of 300 frozen test episodes and reported them on the second half
(Figs 2-7). Modules:

  `space`: parse_space('learning_rate=loguniform:1e-4:1e-2,gamma=uniform:0.7:0.99')
      -> {name: Param}: a search space over a launcher's flags (the spec's
      grammar is in the module's docstring); resolve_space(...) from a
      file, a spec or a launcher's default;
  `trials`: evaluate_trial(saved_model, num_episodes, seed)
      -> the agent's score on each half of the test episodes, by the task's
         own sweep metric (`meta_rl.task_specs`, e.g. expected regret for
         bandits); `Trial`, rank(trials, mode), summary(trials, top_k, mode);
  `report`: write_report(...) -> report.json, report.md (table) and
      report.png in the sweep dir;
  `tune`: run_sweep(...) runs the trials on Ray Tune (embedded or a
      cluster), continues an interrupted sweep, and reports; the only module
      that needs Ray (imported on use, not here); summary_text(...) is what
      a finished sweep prints. launch/sweep.py is its command line.
"""

from meta_rl.sweep.report import plot_report, report_table, write_report
from meta_rl.sweep.space import (KINDS, Param, SpaceError, parse_space,
                                 resolve_space, space_spec)
from meta_rl.sweep.trials import (EVAL_FILE, Trial, evaluate_trial,
                                  load_evaluation, rank, save_evaluation,
                                  summary)

__all__ = ['KINDS', 'Param', 'SpaceError', 'parse_space', 'resolve_space',
           'space_spec',
           'EVAL_FILE', 'Trial', 'evaluate_trial', 'load_evaluation', 'rank',
           'save_evaluation', 'summary', 'plot_report', 'report_table',
           'write_report']
