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

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import cli, dynamics, plots
from jaxgan.config import Config as BaseConfig
from jaxgan.config import option
from jaxgan.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config(BaseConfig):
  game: str = option("bilinear", "Which experiment.", choices=("bilinear", "dirac", "gaussian"))
  workdir: str | None = option(None, "Where the plots go (default runs/dynamics_GAME).")
  step_size: float = option(0.1, "h of the gradient steps.")
  num_steps: int = option(300, "Steps of each trajectory (bilinear, dirac).")
  gamma: float = option(0.3, "Dirac-GAN: the R1 weight γ compared with γ = 0.")
  generator_loss: str = option(
    "minimax", "Dirac-GAN: G's loss.", choices=("minimax", "non_saturating")
  )
  fit_steps: int = option(6000, "Gaussian fits: training steps.")
  seed: int = option(0, "Gaussian fits: seed.")

  def __post_init__(self):
    super().__post_init__()
    if self.step_size <= 0:
      raise ConfigError(f"--step_size must be positive, got {self.step_size}")
    if self.num_steps < 1 or self.fit_steps < 100:
      raise ConfigError("--num_steps must be at least 1 and --fit_steps at least 100")
    if self.gamma < 0:
      raise ConfigError(f"--gamma must be 0 or more, got {self.gamma}")


def updates(config: Config, game):
  h = config.step_size
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


def run_updates(config: Config, game, w0, equilibrium) -> tuple[dict, dict, dict]:
  """Trajectories of every update from w0, the eigenvalues of each one's Jacobian at the
  equilibrium, and their spectral radii and distances."""
  paths, results, operator_eigs = {}, {}, {}
  for name, step in updates(config, game).items():
    start, at = w0, equilibrium
    if name == "optimistic":  # its state is (w_t, w_{t−1})
      start, at = jnp.concatenate([w0, w0]), jnp.concatenate([equilibrium, equilibrium])
    path = dynamics.trajectory(step, start, config.num_steps)[:, : len(w0)]
    paths[name] = path
    distance = np.linalg.norm(path - np.asarray(equilibrium), axis=1)
    operator_eigs[name] = dynamics.eigenvalues(jax.jacfwd(step)(at))
    results[name] = {
      "spectral_radius": float(np.max(np.abs(operator_eigs[name]))),
      "distance_start": float(distance[0]),
      "distance_end": float(distance[-1]),
    }
  return paths, results, operator_eigs


def bilinear(config: Config, workdir: str) -> dict:
  game = dynamics.zero_sum(lambda x, y: jnp.sum(x * y))
  zero = jnp.zeros(2)
  eig = dynamics.eigenvalues(dynamics.jacobian(game, zero))
  paths, results, operator_eigs = run_updates(config, game, jnp.array([1.0, 1.0]), zero)
  plots.save_trajectories(
    os.path.join(workdir, "trajectories.png"),
    paths,
    field=batched_field(game),
    labels=("x (minimizes xy)", "y (maximizes xy)"),
    title=f"min_x max_y xy, h = {config.step_size}, {config.num_steps} steps",
  )
  plots.save_eigenvalues(
    os.path.join(workdir, "eigenvalues.png"),
    operator_eigs,
    title="eigenvalues of each update's Jacobian (converges inside the unit circle)",
  )
  return {"field_eigenvalues": [str(e) for e in eig], "updates": results}


def dirac(config: Config, workdir: str) -> dict:
  out = {}
  fields, paths_by_gamma, eigs = {}, {}, {}
  for gamma in (0.0, config.gamma):
    game = dynamics.dirac_gan(gamma, config.generator_loss)
    zero = jnp.zeros(2)
    computed = dynamics.eigenvalues(dynamics.jacobian(game, zero))
    analytic = dynamics.dirac_gan_eigenvalues(gamma)
    paths, results, _ = run_updates(config, game, jnp.array([1.0, 1.0]), zero)
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
      title=f"Dirac-GAN, {label}, h = {config.step_size}",
    )
  plots.save_eigenvalues(
    os.path.join(workdir, "eigenvalues.png"),
    eigs,
    title="eigenvalues of the Jacobian of the gradient field at (0, 0): stable left of 0",
    unit_circle=False,
  )
  return out


def gaussian(config: Config, workdir: str) -> dict:
  out = {}
  fits = {}
  for dim in (1, 2):
    for features in ("linear", "quadratic"):
      for resample in (True, False):
        fit = dynamics.gaussian_fit(
          dim, features, resample=resample, steps=config.fit_steps, seed=config.seed
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


def main(config: Config):
  workdir = config.workdir or f"runs/dynamics_{config.game}"
  os.makedirs(workdir, exist_ok=True)
  results = EXPERIMENTS[config.game](config, workdir)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results, indent=2))
  print(f"plots in {workdir}")


if __name__ == "__main__":
  cli.run(main, Config)
