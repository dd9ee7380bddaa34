"""Super-resolution: PixelShuffle, the bicubic down-sampling and the losses against their
references, the networks' shapes, Y-channel PSNR, the two phases, and the script."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_ok, fake_torchvision_vgg, np_softplus, one_line_error, run
from PIL import Image

from jaxgan import perceptual
from jaxgan.data import super_resolution as sr_data
from jaxgan.errors import ConfigError
from jaxgan.kinds import srgan
from jaxgan.models import srgan as sr_models
from jaxgan.models import vgg

RNG = np.random.default_rng(0)


def test_pixel_shuffle_is_pytorchs():
  """out[b, c, h·r + i, w·r + j] = in[b, c·r² + i·r + j, h, w] (torch.nn.PixelShuffle, NCHW)."""
  r, c = 2, 3
  x = RNG.normal(size=(2, 4, 5, c * r * r)).astype(np.float32)
  nchw = x.transpose(0, 3, 1, 2)
  expected = np.zeros((2, c, 4 * r, 5 * r), np.float32)
  for ch in range(c):
    for i in range(r):
      for j in range(r):
        expected[:, ch, i::r, j::r] = nchw[:, ch * r * r + i * r + j]
  np.testing.assert_array_equal(
    sr_models.pixel_shuffle(jnp.asarray(x), r), expected.transpose(0, 2, 3, 1)
  )


@pytest.mark.parametrize("scale", [2, 4])
def test_the_bicubic_downsampling_is_pils(scale):
  hr = sr_data.photos("test").images[1][40:136, 100:196].astype(np.float32) / 255.0
  n = 96 // scale
  pil = np.stack(
    [np.asarray(Image.fromarray(hr[..., c]).resize((n, n), Image.BICUBIC)) for c in range(3)], -1
  )
  ours = np.asarray(sr_data.downsample(jnp.asarray(hr)[None], scale))[0]
  np.testing.assert_allclose(ours, pil, atol=1e-5)


def test_the_adversarial_losses_against_numpy():
  real, fake = RNG.normal(size=6), RNG.normal(size=6)
  d, g = srgan.relativistic_losses(jnp.asarray(real), jnp.asarray(fake))
  rf, fr = real - fake.mean(), fake - real.mean()  # D_Ra(x_r, x_f) = σ(rf), D_Ra(x_f, x_r) = σ(fr)
  np.testing.assert_allclose(d, 0.5 * (np_softplus(-rf).mean() + np_softplus(fr).mean()), rtol=1e-5)
  np.testing.assert_allclose(g, 0.5 * (np_softplus(rf).mean() + np_softplus(-fr).mean()), rtol=1e-5)
  d, g = srgan.standard_losses(jnp.asarray(real), jnp.asarray(fake))
  np.testing.assert_allclose(d, np_softplus(-real).mean() + np_softplus(fake).mean(), rtol=1e-5)
  np.testing.assert_allclose(g, np_softplus(-fake).mean(), rtol=1e-5)


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("network", ["srresnet", "rrdb"])
def test_the_generators_upscale_by_their_scale(network, scale):
  if network == "srresnet":
    g = sr_models.SRResNet(scale, num_blocks=2, width=8)
  else:
    g = sr_models.RRDBNet(scale, num_blocks=1, width=8, growth=4)
  x = jnp.zeros((2, 6, 5, 3))
  variables = g.init(jax.random.key(0), x, train=False)
  assert g.apply(variables, x, train=False).shape == (2, 6 * scale, 5 * scale, 3)
  with pytest.raises(ValueError, match="must be 2 or 4"):
    sr_models.SRResNet(3).init(jax.random.key(0), x, train=False)
  d = sr_models.SRDiscriminator(width=4, dense_width=8)
  assert d.apply(
    d.init(jax.random.key(0), jnp.zeros((2, 32, 32, 3)), train=False),
    jnp.zeros((2, 32, 32, 3)),
    train=False,
  ).shape == (2,)


def test_y_channel_psnr_against_the_formula():
  hr = RNG.uniform(-1, 1, (20, 20, 3))
  sr = np.clip(hr + RNG.normal(0, 0.05, hr.shape), -1, 1)

  def y(x):  # ITU-R BT.601 as MATLAB's rgb2ycbcr, on [0, 1] RGB
    rgb = (x + 1) / 2
    return 16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]

  mse = np.mean((y(sr)[4:-4, 4:-4] - y(hr)[4:-4, 4:-4]) ** 2)
  psnr, ssim = srgan.y_psnr_ssim(sr, hr, border=4)
  assert psnr == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-6)
  assert 0 < ssim < 1 and srgan.y_psnr_ssim(hr, hr, 4)[1] == pytest.approx(1.0)


def test_detail_ratio_is_the_ratio_of_mean_sobel_magnitudes():
  from scipy import ndimage

  hr = RNG.uniform(-1, 1, (20, 20, 3))
  blurred = ndimage.uniform_filter(hr, (3, 3, 1))

  def edge_energy(x):  # Y as above, border 4, the Sobel magnitude from scipy
    rgb = (x + 1) / 2
    y = (16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2])[4:-4, 4:-4]
    return np.mean(
      np.hypot(ndimage.sobel(y, 0, mode="reflect"), ndimage.sobel(y, 1, mode="reflect"))
    )

  ratio = srgan.detail_ratio(blurred, hr, border=4)
  assert ratio == pytest.approx(edge_energy(blurred) / edge_energy(hr), rel=1e-9)
  assert ratio < 0.5 and srgan.detail_ratio(hr, hr, 4) == pytest.approx(1.0)


def _spec(adversarial="none"):
  return srgan.SRSpec(
    generator=sr_models.SRResNet(2, num_blocks=1, width=8),
    discriminator=sr_models.SRDiscriminator(width=4, dense_width=8)
    if adversarial != "none"
    else None,
    scale=2,
    g_optimizer=optax.adam(1e-3),
    d_optimizer=optax.adam(1e-3) if adversarial != "none" else None,
    adversarial=adversarial,
  )


def test_the_psnr_phase_descends_the_pixel_loss_and_the_gan_phase_keeps_its_start():
  batch = {"hr": jnp.asarray(RNG.uniform(-1, 1, (1, 4, 32, 32, 3)), jnp.float32)}
  spec = _spec()
  state = srgan.init_state(spec, jax.random.key(0), batch)
  step = srgan.make_train_step(spec, donate=False)
  losses = []
  for _ in range(15):
    state, metrics = step(state, batch, jax.random.key(0))
    losses.append(float(metrics["pixel"]))
  assert losses[-1] < 0.5 * losses[0] and state.discriminator is None
  pretrained = {"params": state.generator.params, "model_state": state.generator.model_state}
  for adversarial in ("gan", "ragan"):
    spec = _spec(adversarial)
    gan = srgan.init_state(spec, jax.random.key(1), batch, pretrained=pretrained)
    jax.tree.map(np.testing.assert_array_equal, gan.generator.params, pretrained["params"])
    new, metrics = srgan.make_train_step(spec, donate=False)(gan, batch, jax.random.key(0))
    assert float(metrics["finite"]) == 1 and {"d_loss", "g_loss"} <= set(metrics)
    jax.tree.map(np.testing.assert_array_equal, new.pretrained, gan.pretrained)  # kept as it was
  state_dict = {
    "generator": {"params": new.generator.params, "model_state": new.generator.model_state},
    "pretrained": new.pretrained,
  }
  half = srgan.interpolated(state_dict, 0.5)
  jax.tree.map(
    lambda h, p, q: np.testing.assert_allclose(h, (p + q) / 2, rtol=1e-6, atol=1e-7),
    half["params"],
    pretrained["params"],
    new.generator.params,
  )


def test_crops_the_scale_cannot_serve_are_refused():
  photos = sr_data.photos("train")
  with pytest.raises(ConfigError, match="multiple of --scale=4"):
    sr_data.check_crop(50, 4, photos)
  with pytest.raises(ConfigError, match="smaller than --crop=600"):
    sr_data.check_crop(600, 4, photos)
  crops = sr_data.random_crops(photos, 24, 5, np.random.default_rng(0))
  assert crops.shape == (5, 24, 24, 3) and crops.min() >= -1 and crops.max() <= 1


def test_the_script_trains_both_phases(tmp_path):
  flags = [
    "--num_steps=2",
    "--num_blocks=1",
    "--width=8",
    "--crop=32",
    "--batch_size=4",
    "--scale=2",
  ]
  first, second = tmp_path / "psnr", tmp_path / "gan"
  proc = run(["experiments/srgan.py", f"--workdir={first}", *flags])
  assert_ok(proc)
  assert "bicubic" in proc.stdout and (first / "plots" / "comparisons_0000002.png").exists()
  proc = run(
    [
      "experiments/srgan.py",
      f"--workdir={second}",
      "--adversarial=ragan",
      f"--pretrained_workdir={first}",
      *flags,
    ]
  )
  assert_ok(proc)
  assert "pretrained" in proc.stdout and "d_loss" in proc.stdout
  photo = tmp_path / "photo.png"  # a user's image of any size, upscaled whole
  Image.fromarray(RNG.integers(0, 255, (15, 21, 3), dtype=np.uint8)).save(photo)
  big = tmp_path / "photo_x2.png"
  translate = ["-m", "jaxgan.translate", f"--workdir={first}"]
  assert_ok(run([*translate, f"--input={photo}", f"--output={big}"]))
  assert np.asarray(Image.open(big)).shape == (30, 42, 3)
  folder, broken = tmp_path / "folder", tmp_path / "folder" / "broken.png"
  folder.mkdir()
  broken.write_bytes(b"not a png")
  one_line_error(
    run([*translate, f"--input={folder}", f"--output={tmp_path / 'out'}"]), "cannot read image"
  )
  assert not (tmp_path / "out").exists()  # nothing written
  one_line_error(
    run(
      [
        "experiments/srgan.py",
        f"--pretrained_workdir={first}",
        "--adversarial=gan",
        f"--workdir={tmp_path / 'x'}",
        *flags[:1],
        "--num_blocks=2",
        *flags[2:],
      ]
    ),
    "is not a super-resolution run of this generator",
  )


def test_bad_scales_and_crops_are_refused():
  """The Config's checks (the CLI turns a ConfigError into one line and exit 2: the
  pretrained-run check above goes through it)."""
  import importlib.util
  import os

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  spec = importlib.util.spec_from_file_location("srgan_experiment", f"{root}/experiments/srgan.py")
  experiment = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(experiment)
  with pytest.raises(ConfigError, match="--scale must be 2 or 4"):
    experiment.Config(scale=3)
  with pytest.raises(ConfigError, match="multiple of --scale=4"):
    sr_data.check_crop(30, 4, sr_data.load_sr_datasets("photos")[0])


def _fake_vgg19_file(path):
  arrays = fake_torchvision_vgg(vgg.VGG19, RNG, bias_std=0.01)
  np.savez(path, **arrays)
  return arrays


def test_the_vgg19_content_losses_of_srgan_and_esrgan(tmp_path):
  arrays = _fake_vgg19_file(tmp_path / "vgg19.npz")
  variables = vgg.load_vgg19(str(tmp_path / "vgg19.npz"))
  kernel = variables["params"]["conv16"]["kernel"]  # torchvision's features.34: conv5_4
  np.testing.assert_array_equal(
    kernel, arrays["features.34.weight"].transpose(2, 3, 1, 0).astype(np.float32)
  )
  x, y = (jnp.asarray(RNG.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32) for _ in range(2))
  srgan_loss = perceptual.perceptual_for(f"vgg54:{tmp_path / 'vgg19.npz'}", "photos")
  esrgan_loss = perceptual.perceptual_for(f"vgg54_pre:{tmp_path / 'vgg19.npz'}", "photos")
  scaled = (((x + 1) / 2) - np.array(vgg.IMAGENET_MEAN)) / np.array(vgg.IMAGENET_STD)
  scaled_y = (((y + 1) / 2) - np.array(vgg.IMAGENET_MEAN)) / np.array(vgg.IMAGENET_STD)
  after = vgg.VGG(vgg.VGG19, (16,))
  before = vgg.VGG(vgg.VGG19, (16,), pre_activation=True)
  fx, fy = (np.asarray(after.apply(variables, v)[0]) for v in (scaled, scaled_y))
  px, py = (np.asarray(before.apply(variables, v)[0]) for v in (scaled, scaled_y))
  assert fx.shape == (2, 2, 2, 512) and np.all(fx >= 0) and np.any(px < 0)
  np.testing.assert_allclose(
    srgan_loss(x, y), np.mean(((fx - fy) / 12.75) ** 2, axis=(1, 2, 3)), rtol=1e-4
  )
  np.testing.assert_allclose(esrgan_loss(x, y), np.mean(np.abs(px - py), axis=(1, 2, 3)), rtol=1e-4)
  del arrays["features.34.bias"]
  np.savez(tmp_path / "broken.npz", **arrays)
  with pytest.raises(ConfigError, match="is not VGG19 .it lacks features.34.bias"):
    vgg.load_vgg19(str(tmp_path / "broken.npz"))
  with pytest.raises(ConfigError, match="convert VGG19's weights"):
    perceptual.perceptual_for("vgg54:/no/such.npz", "photos")
