"""jaxgan: a functional GAN toolkit on JAX and Flax.

A GAN is composed from pure pieces: two Flax modules (`jaxgan.models`), an
adversarial loss (`jaxgan.losses`), regularizers (`jaxgan.penalties`), two
optax chains (`jaxgan.optim`). `jaxgan.train.make_train_step` turns them into
one compiled training step; `jaxgan.loop` runs it with data, checkpoints,
plots and evaluation (`jaxgan.metrics`: mode coverage, FID, KID, IS,
precision/recall). `jaxgan.dynamics` studies the game itself: its vector
field, Jacobian and the stability of each update rule.
"""

__version__ = "0.1.0"

from jaxgan import host as _host

_host.tune_malloc()  # before JAX starts its CPU threads: see jaxgan/host.py
