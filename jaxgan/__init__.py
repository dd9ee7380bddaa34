"""jaxgan: a functional GAN toolkit on JAX and Flax.

A GAN is composed from pure pieces: two Flax modules (`jaxgan.models`), an
adversarial loss (`jaxgan.losses`), regularizers (`jaxgan.penalties`), two
optax chains (`jaxgan.optim`). `jaxgan.train.make_train_step` turns them into
one compiled training step; `jaxgan.loop` runs it with data, checkpoints,
plots and evaluation.
"""

__version__ = "0.1.0"
