"""Configs: every setting has one default and one validation; flags are made from the config
classes; an experiment's make_spec runs from a notebook, with no flag parsing."""

import dataclasses

import pytest
from absl import flags
from conftest import experiment_module, experiment_scripts

from jaxgan import cli, data
from jaxgan.config import GANConfig, ImageGANConfig, LoopConfig, TranslationConfig
from jaxgan.data import pairs
from jaxgan.errors import ConfigError
from jaxgan.kinds import cyclegan, gan, pix2pix

SCRIPTS = experiment_scripts()


@pytest.mark.parametrize("script", SCRIPTS)
def test_flags_are_made_from_the_config_with_its_defaults(script):
  config_class = experiment_module(script).Config
  flag_values = flags.FlagValues()
  cli.define_flags(config_class, flag_values)
  flag_values(["prog"])
  config = cli.config_from_flags(config_class, flag_values)
  assert config == config_class()  # one default per setting: the config's
  for field in dataclasses.fields(config_class):
    assert flag_values[field.name].help, f"--{field.name} of {script} has no help"


def test_flags_parse_into_typed_values():
  flag_values = flags.FlagValues()
  cli.define_flags(GANConfig, flag_values)
  flag_values(["prog", "--g_hidden=16,8", "--num_steps=7", "--spectral_norm", "--model=dcgan"])
  config = cli.config_from_flags(GANConfig, flag_values)
  assert config.g_hidden == (16, 8) and config.num_steps == 7 and config.spectral_norm
  with pytest.raises(flags.IllegalFlagValueError):
    flag_values(["prog", "--model=vgg"])


@pytest.mark.parametrize(
  "config_class, values, message",
  [
    (LoopConfig, {"batch_size": 0}, "--batch_size must be at least 1"),
    (LoopConfig, {"eval_every": -1}, "--eval_every must be at least 1"),
    (GANConfig, {"g_lr": 0.0}, "--g_lr must be positive"),
    (GANConfig, {"beta1": 1.0}, "--beta1 must be in [0, 1)"),
    (GANConfig, {"lr_decay_start": 1.0}, "--lr_decay_start must be in [0, 1)"),
    (GANConfig, {"ema_decay": 1.5}, "--ema_decay must be in [0, 1)"),
    (GANConfig, {"g_hidden": ("8", "x")}, "--g_hidden must be comma-separated integers"),
    (GANConfig, {"d_hidden": ()}, "--d_hidden needs at least one positive width"),
    (GANConfig, {"batch_size": 64, "accumulate": 3}, "--accumulate=3 does not divide"),
    (GANConfig, {"fid_features": "inceptoin"}, "--fid_features='inceptoin' is unknown"),
    (TranslationConfig, {"load_size": 8}, "--load_size=8 is smaller than --image_size=16"),
    (TranslationConfig, {"d_layers": 0}, "--d_layers must be at least 1"),
  ],
)
def test_each_setting_is_validated_once_by_its_config(config_class, values, message):
  with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
    config_class(**values)


def test_configs_are_frozen():
  with pytest.raises(dataclasses.FrozenInstanceError):
    ImageGANConfig().num_steps = 3


def test_experiment_specs_from_a_notebook():
  """make_spec(config, dataset) with configs made in Python: no absl parsing anywhere."""
  digits = data.get_dataset("digits", image_size=16)
  wgan_gp = experiment_module("wgan_gp.py")
  spec = wgan_gp.make_spec(wgan_gp.Config(gp_weight=2.0, n_critic=3), data.get_toy("ring8"))
  assert isinstance(spec, gan.GANSpec) and spec.n_critic == 3
  assert spec.discriminator_regularizers[0].weight == 2.0
  cgan = experiment_module("cgan.py")
  spec = cgan.make_spec(cgan.Config(conditioning="projection"), digits)
  assert spec.num_classes == 10 and spec.label_to_discriminator
  infogan = experiment_module("infogan.py")
  spec = infogan.make_spec(infogan.Config(categorical_codes=(10, 3)), digits)
  assert spec.categorical_codes == (10, 3) and spec.continuous_codes == 2
  for script in ("gan.py", "wgan.py", "dcgan.py", "lsgan.py", "dragan.py", "sngan.py"):
    module = experiment_module(script)
    dataset = digits if issubclass(module.Config, ImageGANConfig) else data.get_toy("grid25")
    assert isinstance(module.make_spec(module.Config(), dataset), gan.GANSpec), script
  began = experiment_module("began.py")
  assert began.make_spec(began.Config(), digits).loss.update_state is not None
  acgan = experiment_module("acgan.py")
  assert acgan.make_spec(acgan.Config(), digits).num_classes == 10
  edges = pairs.load_translation_dataset("digits_edges", 16)
  p2p = experiment_module("pix2pix.py")
  assert isinstance(p2p.make_spec(p2p.Config(l1_weight=10.0), edges), pix2pix.Pix2PixSpec)
  cycle = experiment_module("cyclegan.py")
  spec = cycle.make_spec(
    cycle.Config(), pairs.load_translation_dataset("digits_edges_unpaired", 16)
  )
  assert isinstance(spec, cyclegan.CycleGANSpec) and spec.adversarial_weight == 2.0


def test_experiment_specific_validation():
  with pytest.raises(ConfigError, match="each categorical code needs 2"):
    experiment_module("infogan.py").Config(categorical_codes=(1,))
  with pytest.raises(ConfigError, match="the ResNet generator needs a multiple of 4"):
    experiment_module("cyclegan.py").Config(num_downsamplings=2, image_size=12)
