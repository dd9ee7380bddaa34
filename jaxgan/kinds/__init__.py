"""The kinds of training, one module each; each builds a `jaxgan.trainer.Trainer` and
registers a `jaxgan.trainer.Kind` when imported.

- gan: a generator from noise against a discriminator (its spec in gan_spec, the players'
  updates in gan_updates): every GAN of experiments/ but the image-to-image ones.
- pix2pix: paired image-to-image translation.
- cyclegan: unpaired image-to-image translation.
- progressive: a GAN whose networks grow from 4×4 to the data's size (Progressive GAN).
- image_to_image: what pix2pix and CycleGAN share.

A new kind is a new module (here or anywhere): a step, a `make_trainer`, and
`trainer.register(trainer.Kind(NAME, restore))`; it edits no shared module.
"""

from __future__ import annotations

from typing import Any


def legacy_kind(config: dict[str, Any]) -> str:
  """The kind of a config.json written before runs recorded their kind."""
  if "generator_ab" in config:
    return "cyclegan"
  if config.get("experiment") == "pix2pix":
    return "pix2pix"
  return "gan"
