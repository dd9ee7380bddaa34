"""The vector quantizer against numpy: nearest codes, losses, straight-through, EMA, restarts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import vq

RNG = np.random.default_rng(0)


def _quantizer(**kw):
  q = vq.VectorQuantizer(num_codes=6, code_dim=3, **kw)
  z = jnp.asarray(RNG.normal(size=(2, 2, 4, 3)), jnp.float32)
  return q, z, q.init(jax.random.key(0), z, False)


def test_codes_losses_and_the_straight_through_gradient():
  q, z, variables = _quantizer()
  out = q.apply(variables, z, False)
  e = np.asarray(variables["params"]["embedding"], np.float64)
  flat = np.asarray(z, np.float64).reshape(-1, 3)
  codes = np.argmin(((flat[:, None] - e[None]) ** 2).sum(-1), axis=1)
  np.testing.assert_array_equal(out.codes.reshape(-1), codes)
  np.testing.assert_allclose(out.z_q.reshape(-1, 3), e[codes], atol=1e-6)
  mse = np.mean((flat - e[codes]) ** 2)
  np.testing.assert_allclose(out.codebook_loss, mse, rtol=1e-5)
  np.testing.assert_allclose(out.commitment_loss, 0.25 * mse, rtol=1e-5)
  p = np.bincount(codes, minlength=6) / len(codes)
  np.testing.assert_allclose(out.perplexity, np.exp(-np.sum(p * np.log(p + 1e-10))), rtol=1e-5)
  # the encoder sees the identity: d/dz Σ w·z_q = w
  w = jnp.asarray(RNG.normal(size=z.shape), jnp.float32)
  grad = jax.grad(lambda z: jnp.sum(w * q.apply(variables, z, False).z_q))(z)
  np.testing.assert_allclose(grad, w, atol=1e-6)
  # the codebook loss moves the codes, the commitment loss the encoder only
  g_codes = jax.grad(lambda v: q.apply({**variables, "params": v}, z, False).codebook_loss)(
    variables["params"]
  )
  assert np.abs(np.asarray(g_codes["embedding"])).sum() > 0
  to_encoder = jax.grad(lambda z: q.apply(variables, z, False).codebook_loss)(z)
  assert float(jnp.abs(to_encoder).sum()) == 0


def test_ema_codebook_follows_the_assigned_outputs():
  q, z, variables = _quantizer(ema_decay=0.9)
  assert "params" not in variables or "embedding" not in variables.get("params", {})
  book = variables[vq.CODEBOOK]
  out, updated = q.apply(variables, z, True, mutable=[vq.CODEBOOK])
  flat = np.asarray(z, np.float64).reshape(-1, 3)
  codes = np.asarray(out.codes).reshape(-1)
  one_hot = np.eye(6)[codes]
  cluster = 0.9 * np.asarray(book["cluster_size"]) + 0.1 * one_hot.sum(0)
  embed_sum = 0.9 * np.asarray(book["embed_sum"], np.float64) + 0.1 * one_hot.T @ flat
  n = cluster.sum()
  smoothed = (cluster + 1e-5) / (n + 6 * 1e-5) * n
  new = updated[vq.CODEBOOK]
  np.testing.assert_allclose(new["cluster_size"], cluster, rtol=1e-5)
  np.testing.assert_allclose(new["embedding"], embed_sum / smoothed[:, None], rtol=1e-4)
  assert float(out.codebook_loss) == 0.0


@pytest.mark.parametrize("ema", [None, 0.9])
def test_dead_codes_restart_at_the_worst_served_outputs(ema):
  q = vq.VectorQuantizer(num_codes=4, code_dim=2, ema_decay=ema, dead_threshold=0.5)
  z = jnp.asarray([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0]])[:, None, None, :]
  variables = q.init(jax.random.key(0), z, False)
  far = jnp.asarray([[0.0, 0.0], [100.0, 100.0], [-100.0, 100.0], [100.0, -100.0]])
  if ema is None:
    variables["params"]["embedding"] = far
  else:
    variables[vq.CODEBOOK].update(embedding=far, embed_sum=far, cluster_size=jnp.ones(4))
  variables[vq.CODEBOOK]["usage"] = jnp.asarray([1.0, 0.0, 1.0, 1.0])  # code 1 is dead
  out, updated = q.apply(variables, z, True, mutable=[vq.CODEBOOK, vq.RESTARTS])
  assert int(out.codes.reshape(-1)[3]) == 0  # (5, 5) was served by code 0, the worst of all
  if ema is None:
    params = vq.restarted_params(variables["params"], updated[vq.RESTARTS])
    book = np.asarray(params["embedding"])
  else:
    book = np.asarray(updated[vq.CODEBOOK]["embedding"])
  np.testing.assert_allclose(book[1], [5.0, 5.0], atol=0.6)  # moved onto the worst output
  assert float(updated[vq.CODEBOOK]["usage"][1]) >= 0.5


def test_a_codebook_needs_two_codes():
  with pytest.raises(ValueError, match="at least 2 codes"):
    vq.VectorQuantizer(num_codes=1, code_dim=2).init(jax.random.key(0), jnp.zeros((1, 1, 1, 2)))
