"""Training is checked by training: a short WGAN-GP run on ring8 must find the modes."""

import optax

from jaxgan import data, loop, models, penalties, train


def test_wgan_gp_finds_the_ring8_modes(tmp_path):
  """1,500 steps of the wgan_gp recipe with smaller MLPs and a short EMA (about 20 s).

  Measured with seeds 0, 1, 2: 8/8 modes each, 43.4%, 48.4% and 61.1%
  high-quality samples (the full recipe, README's table, trains 15,000 steps).
  """
  ring8 = data.get_toy("ring8")

  def gp(inputs):
    return penalties.gradient_penalty(inputs.d_fn, inputs.real, inputs.fake, inputs.key)

  spec = train.GANSpec(
    generator=models.MLPGenerator((256, 256, 256), (2,), weight_init="pytorch"),
    discriminator=models.MLPDiscriminator((128, 128, 128), weight_init="pytorch"),
    latent_dim=2,
    loss=train.loss_pair("wasserstein"),
    discriminator_regularizers=(train.Regularizer("gradient_penalty", 0.1, gp),),
    generator_optimizer=optax.adam(1e-4, b1=0.5, b2=0.9),
    discriminator_optimizer=optax.adam(1e-4, b1=0.5, b2=0.9),
    n_critic=5,
    ema_decay=0.99,
  )
  config = loop.LoopConfig(
    workdir=str(tmp_path),
    num_steps=1500,
    batch_size=128,
    seed=0,
    log_every=500,
    checkpoint_every=1500,
    plot_every=1500,
    eval_every=1500,
  )
  results = loop.train_loop(spec, ring8, config)
  assert results["modes"] >= 7, results
  assert results["high_quality"] >= 0.3, results
