"""The experiments: one script per kind of GAN, each an absl flag-driven `main`.

In the checkout they run as scripts (`python experiments/wgan_gp.py --flagfile=...`); the
wheel ships them as `jaxgan.experiments` with their recipes (`configs/*.flags`) as package data,
so that `jaxgan-train wgan_gp --flagfile=wgan_gp_grid25` runs without the checkout.
"""
