"""The dynamics lab: small, exact experiments on why GAN training oscillates and what fixes it.

  python experiments/dynamics.py --game=bilinear     # min_x max_y xy: spirals, cycles, convergence
  python experiments/dynamics.py --game=dirac        # Dirac-GAN with and without R1 (--gamma)
  python experiments/dynamics.py --game=gaussian     # linear G vs logistic regression, 1-D and 2-D
  python experiments/dynamics.py --flagfile=experiments/configs/dynamics_dirac.flags

Each writes its plots to --workdir and a results.json with the numbers it
prints, in well under a minute on a laptop CPU. The fourth experiment of the
lab, the Unrolled GAN on the toy mixtures, is a full training run:
`python experiments/gan.py --flagfile=experiments/configs/unrolled_gan_grid25.flags`.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from jaxgan import cli, dynamics, plots
from jaxgan.errors import ConfigError

flags.DEFINE_enum("game", "bilinear", ["bilinear", "dirac", "gaussian"], "Which experiment.")
flags.DEFINE_string("workdir", None, "Where the plots go (default runs/dynamics_GAME).")
flags.DEFINE_float("step_size", 0.1, "h of the gradient steps.")
flags.DEFINE_integer("num_steps", 300, "Steps of each trajectory (bilinear, dirac).")
flags.DEFINE_float("gamma", 0.3, "Dirac-GAN: the R1 weight γ compared with γ = 0.")
flags.DEFINE_enum(
  "generator_loss", "minimax", ["minimax", "non_saturating"], "Dirac-GAN: G's loss."
)
flags.DEFINE_integer("fit_steps", 6000, "Gaussian fits: training steps.")
flags.DEFINE_integer("seed", 0, "Gaussian fits: seed.")
FLAGS = flags.FLAGS


def updates(game):
  h = FLAGS.step_size
  return {
    "simultaneous": dynamics.simultaneous_step(game, h),
    "alternating": dynamics.alternating_step(game, h),
    "extragradient": dynamics.extragradient_step(game, h),
    "optimistic": dynamics.optimistic_step(game, h),
  }


def batched_field(game):
  """points [N, 2] → v at each, one compiled call (for the arrows of the plots)."""
  field = jax.jit(jax.vmap(lambda w: dynamics.vector_field(game, w)))
  return lambda points: field(jnp.asarray(points, jnp.float32))


def run_updates(game, w0, equilibrium) -> tuple[dict, dict, dict]:
  """Trajectories of every update from w0, the eigenvalues of each one's Jacobian at the
  equilibrium, and their spectral radii and distances."""
  paths, results, operator_eigs = {}, {}, {}
  for name, step in updates(game).items():
    start, at = w0, equilibrium
    if name == "optimistic":  # its state is (w_t, w_{t−1})
      start, at = jnp.concatenate([w0, w0]), jnp.concatenate([equilibrium, equilibrium])
    path = dynamics.trajectory(step, start, FLAGS.num_steps)[:, : len(w0)]
    paths[name] = path
    distance = np.linalg.norm(path - np.asarray(equilibrium), axis=1)
    operator_eigs[name] = dynamics.eigenvalues(jax.jacfwd(step)(at))
    results[name] = {
      "spectral_radius": float(np.max(np.abs(operator_eigs[name]))),
      "distance_start": float(distance[0]),
      "distance_end": float(distance[-1]),
    }
  return paths, results, operator_eigs


def bilinear(workdir: str) -> dict:
  game = dynamics.zero_sum(lambda x, y: jnp.sum(x * y))
  zero = jnp.zeros(2)
  eig = dynamics.eigenvalues(dynamics.jacobian(game, zero))
  paths, results, operator_eigs = run_updates(game, jnp.array([1.0, 1.0]), zero)
  plots.save_trajectories(
    os.path.join(workdir, "trajectories.png"),
    paths,
    field=batched_field(game),
    labels=("x (minimizes xy)", "y (maximizes xy)"),
    title=f"min_x max_y xy, h = {FLAGS.step_size}, {FLAGS.num_steps} steps",
  )
  plots.save_eigenvalues(
    os.path.join(workdir, "eigenvalues.png"),
    operator_eigs,
    title="eigenvalues of each update's Jacobian (converges inside the unit circle)",
  )
  return {"field_eigenvalues": [str(e) for e in eig], "updates": results}


def dirac(workdir: str) -> dict:
  out = {}
  fields, paths_by_gamma, eigs = {}, {}, {}
  for gamma in (0.0, FLAGS.gamma):
    game = dynamics.dirac_gan(gamma, FLAGS.generator_loss)
    zero = jnp.zeros(2)
    computed = dynamics.eigenvalues(dynamics.jacobian(game, zero))
    analytic = dynamics.dirac_gan_eigenvalues(gamma)
    paths, results, _ = run_updates(game, jnp.array([1.0, 1.0]), zero)
    label = f"γ = {gamma:g}"
    out[label] = {
      "computed_eigenvalues": [str(np.round(e, 6)) for e in computed],
      "analytic_eigenvalues": [str(np.round(e, 6)) for e in analytic],
      "updates": results,
    }
    paths_by_gamma[label] = {k: paths[k] for k in ("simultaneous", "alternating")}
    fields[label] = game
    eigs[f"J, {label} (jaxgan)"] = computed
    eigs[f"J, {label} (analytic)"] = analytic
  for label, paths in paths_by_gamma.items():
    game = fields[label]
    plots.save_trajectories(
      os.path.join(workdir, f"trajectories_{label.split()[-1]}.png"),
      paths,
      field=batched_field(game),
      labels=("θ (generator's point mass)", "ψ (D(x) = ψx)"),
      title=f"Dirac-GAN, {label}, h = {FLAGS.step_size}",
    )
  plots.save_eigenvalues(
    os.path.join(workdir, "eigenvalues.png"),
    eigs,
    title="eigenvalues of the Jacobian of the gradient field at (0, 0): stable left of 0",
    unit_circle=False,
  )
  return out


def gaussian(workdir: str) -> dict:
  out = {}
  fits = {}
  for dim in (1, 2):
    for features in ("linear", "quadratic"):
      for resample in (True, False):
        fit = dynamics.gaussian_fit(
          dim, features, resample=resample, steps=FLAGS.fit_steps, seed=FLAGS.seed
        )
        name = f"{dim}-D, {features} D, {'re-sampled' if resample else 'fixed'} minibatches"
        fits[(dim, features, resample)] = fit
        out[name] = {
          "mean_error": fit.mean_error,
          "covariance_error": fit.covariance_error,
          "late_covariance_error": fit.late_covariance_error,
        }
  mean, cov = dynamics.GAUSSIAN_TARGETS[1]
  plots.save_gaussian_fit_1d(
    os.path.join(workdir, "fit_1d.png"),
    {f"{f} D": fits[(1, f, True)] for f in ("linear", "quadratic")},
    mean[0],
    float(np.sqrt(cov[0, 0])),
  )
  mean2, cov2 = dynamics.GAUSSIAN_TARGETS[2]
  plots.save_gaussian_fit_2d(
    os.path.join(workdir, "fit_2d.png"),
    {
      f"{f} D, {'re-sampled' if r else 'fixed'}": fits[(2, f, r)]
      for f in ("linear", "quadratic")
      for r in (True, False)
    },
    mean2,
    cov2,
  )
  return out


EXPERIMENTS = {"bilinear": bilinear, "dirac": dirac, "gaussian": gaussian}


def main(argv):
  del argv
  if FLAGS.step_size <= 0:
    raise ConfigError(f"--step_size must be positive, got {FLAGS.step_size}")
  if FLAGS.num_steps < 1 or FLAGS.fit_steps < 100:
    raise ConfigError("--num_steps must be at least 1 and --fit_steps at least 100")
  if FLAGS.gamma < 0:
    raise ConfigError(f"--gamma must be 0 or more, got {FLAGS.gamma}")
  workdir = FLAGS.workdir or f"runs/dynamics_{FLAGS.game}"
  os.makedirs(workdir, exist_ok=True)
  results = EXPERIMENTS[FLAGS.game](workdir)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results, indent=2))
  print(f"plots in {workdir}")


if __name__ == "__main__":
  cli.run(main)
