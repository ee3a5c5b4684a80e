"""The analyses of the paper's experiments: what the analysis launchers
(launch/exp*_*.py, launch/decode_posterior.py, launch/seed_study.py) run.

One module per experiment; most play frozen test episodes with the
policies they are given (`evaluate`, and for a whole run `evaluate_run`),
and each draws its figure (`plot`; matplotlib is imported only there) and
formats what is printed (`table`, `markdown`, `summary_line`). They take
plain arguments (run dirs, cores, policies, numbers), raise ValueError or
OSError with a one-line message for what the user must fix, and report
progress through a `log` or `report` callable.

  `matrix`       Exp 2 (Fig 2f): the train/test regret matrix over the
                 two-armed distributions;
  `informative`  Exp 3 (Fig 3): pulls of the informative arm;
  `restless`     Exp 4 (Fig 4): restless bandit, Rescorla-Wagner learning
                 rates against volatility;
  `two_step`     Exp 5 (Fig 5): stay probabilities and regressions of the
                 two-step task;
  `harlow`       Exp 6 (Fig 6): one-shot learning in Harlow's task;
  `navigation`   Exp 7 (Fig 7): one-shot navigation in the I-maze;
  `posterior`    the Bayesian posterior decoded from the agent's state;
  `seeds`        a seed study: how and whether each run of a configuration
                 learned (Harlow, the I-maze).
"""
