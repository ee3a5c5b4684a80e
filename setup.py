"""meta-rl: deep meta-reinforcement learning ("Learning to Reinforcement Learn")."""

from setuptools import find_packages, setup

# Ranges here; the exact known-good set (checked together on CPU, Python 3.11,
# November 2026) is constraints.txt, which `make` installs with
#   pip install -c constraints.txt -e '.[cpu,test,sweep,gym,analysis]'
# TensorFlow comes only through an extra, so that exactly one build is
# installed:
#   pip install -e '.[cpu]'          tensorflow-cpu (what `make` uses)
#   pip install -e '.[tensorflow]'   the full tensorflow build (e.g. for GPUs)
# Serving warmup requests and launch/serve_client.py's gRPC path use
# tensorflow-serving-api, whose metadata requires the full `tensorflow`: it is
# installed without dependencies (`make` does it; see README), so it is not an
# extra here.
TF_RANGE = '>=2.21.0,<2.22'

setup(
    name='meta-rl',
    version='0.1.0',
    description='TF2/Keras reference implementation of deep meta-RL '
                '(Wang et al. 2016, "Learning to Reinforcement Learn")',
    license='Apache-2.0',
    packages=find_packages(include=['meta_rl', 'meta_rl.*', 'environments',
                                    'environments.*']),
    # numpy 2.4, scipy 1.17, matplotlib 3.11 and keras 3.15 need 3.11.
    python_requires='>=3.11',
    install_requires=[
        'keras>=3.12,<4',
        'tensorboard>=2.21,<2.22',
        'dm-env>=1.6,<2',
        'dm-tree>=0.1.8',
        'absl-py>=2.1,<3',
        'numpy>=1.26,<3',
        'scipy>=1.13',  # the baselines' special functions
    ],
    extras_require={
        'cpu': [f'tensorflow-cpu{TF_RANGE}'],
        'tensorflow': [f'tensorflow{TF_RANGE}'],
        'test': ['pytest>=8', 'pytest-xdist>=3'],  # make test: -n 2
        # The paper's analyses and figures (launch/exp*.py, decode_posterior,
        # evaluate.py's figure, sweep reports).
        'analysis': ['matplotlib>=3.8', 'statsmodels>=0.14',
                     'pandas>=2.0,<3'],  # statsmodels 0.14.5 breaks with pandas 3
        # Hyperparameter sweeps (launch/sweep.py): Ray Tune, embedded or on a
        # cluster.
        'sweep': ['ray[tune]>=2.50,<3'],
        # environments/gym_adapter.py: every task as a gymnasium.Env.
        'gym': ['gymnasium>=1.4,<2'],
    },
)
