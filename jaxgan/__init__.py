"""jaxgan: a functional GAN toolkit on JAX and Flax.

A GAN is composed from pure pieces: two Flax modules (`jaxgan.models`), an
adversarial loss (`jaxgan.losses`, paired in `jaxgan.loss_pairs`),
regularizers (`jaxgan.penalties`), two optax chains (`jaxgan.optim`).
`jaxgan.kinds.gan.make_train_step` turns them into one compiled training step
(`jaxgan.step` holds what every kind's step shares; `jaxgan.kinds` has the
GAN, pix2pix and CycleGAN). Each kind hands the one loop (`jaxgan.loop`) a
`jaxgan.trainer.Trainer`; the loop runs it with data, checkpoints, plots and
the evaluators (`jaxgan.evaluators`: mode coverage, FID, KID, IS,
precision/recall, the digits judge, the translation checks).
`jaxgan.dynamics` studies the game itself: its vector field, Jacobian and the
stability of each update rule.
"""

__version__ = "0.1.0"

from jaxgan import host as _host

_host.tune_malloc()  # before JAX starts its CPU threads: see jaxgan/host.py
