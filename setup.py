"""meta-rl: deep meta-reinforcement learning ("Learning to Reinforcement Learn")."""

from setuptools import find_packages, setup

# Known-good set (checked together on CPU, November 2026). TensorFlow comes
# through an extra so that exactly one build is installed:
#   pip install -e '.[cpu]'          tensorflow-cpu (what `make` uses)
#   pip install -e '.[tensorflow]'   the full tensorflow build (e.g. for GPUs)
# Optional: '.[sweep]' adds Ray Tune for launch/sweep.py.
# tensorflow-probability 0.25 also needs tf-keras, whose metadata pulls in the
# full tensorflow: install it with `pip install --no-deps tf-keras==2.21.0`.
TF_VERSION = '2.21.0'

setup(
    name='meta-rl',
    version='0.1.0',
    description='TF2/Keras reference implementation of deep meta-RL '
                '(Wang et al. 2016, "Learning to Reinforcement Learn")',
    packages=find_packages(include=['meta_rl', 'meta_rl.*', 'environments',
                                    'environments.*']),
    python_requires='>=3.10',
    install_requires=[
        'keras==3.15.1',
        'tensorboard==2.21.0',
        'tensorflow-probability==0.25.0',
        'dm-env==1.6',
        'dm-tree==0.1.10',
        'absl-py==2.5.1',
        'numpy==2.4.6',
        'matplotlib==3.11.2',
        'scipy==1.17.1',
        'statsmodels==0.14.5',
        'pandas==2.3.3',  # statsmodels 0.14.5 breaks with pandas 3
    ],
    extras_require={
        'cpu': [f'tensorflow-cpu=={TF_VERSION}'],
        'tensorflow': [f'tensorflow=={TF_VERSION}'],
        'test': ['pytest==9.2.0'],
        # Hyperparameter sweeps (launch/sweep.py): Ray Tune, embedded or on a
        # cluster.
        'sweep': ['ray[tune]==2.60.0'],
    },
)
