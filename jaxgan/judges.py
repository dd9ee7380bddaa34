"""Independent classifiers that judge generated images by their class.

`digits_judge()` is a multinomial logistic regression (L2-regularized, fit by
L-BFGS) trained on 80% of the real 8×8 digits; it never sees a generated
image in training.
Generated images of any size S = 8·m are averaged over m×m blocks back to
8×8 before it classifies them. Its accuracy on the held-out 20% of real
digits is `DigitsJudge.test_accuracy` (about 96%).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jaxgan.data import images as image_data


def block_average(images: np.ndarray, size: int) -> np.ndarray:
  """[N, S, S, C] → [N, size, size, C] by averaging (S/size)×(S/size) blocks."""
  n, s, _, c = images.shape
  if s % size:
    raise ValueError(f"cannot average {s}×{s} images down to {size}×{size}")
  m = s // size
  return images.reshape(n, size, m, size, m, c).mean(axis=(2, 4))


def fit_softmax_regression(
  x: np.ndarray, y: np.ndarray, num_classes: int, l2: float = 1e-2
) -> np.ndarray:
  """Weights [d + 1, K] minimizing −mean log softmax(x·W + b)[y] + (l2/2)‖W‖² (L-BFGS).

  Args:
    x: features [N, d].
    y: labels [N].
    num_classes: K.
    l2: the weight decay.

  Returns:
    The weights [d + 1, K] (the last row the biases).
  """
  from scipy.optimize import minimize

  n, d = x.shape
  features = np.concatenate([x, np.ones((n, 1))], axis=1).astype(np.float64)
  one_hot = np.eye(num_classes)[y]

  def loss_and_grad(flat):
    w = flat.reshape(d + 1, num_classes)
    logits = features @ w
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(n), y] + 1e-12)) + 0.5 * l2 * np.sum(w[:-1] ** 2)
    grad = features.T @ (p - one_hot) / n
    grad[:-1] += l2 * w[:-1]
    return loss, grad.ravel()

  result = minimize(
    loss_and_grad,
    np.zeros((d + 1) * num_classes),
    jac=True,
    method="L-BFGS-B",
    options={"maxiter": 1000},
  )
  return result.x.reshape(d + 1, num_classes)


@dataclasses.dataclass(frozen=True)
class DigitsJudge:
  """predict(images in [−1, 1], [N, S, S, 1]) → the digit each image shows."""

  weights: np.ndarray  # [65, 10]: 64 pixels and a bias
  test_accuracy: float

  def predict(self, images: np.ndarray) -> np.ndarray:
    features = block_average(np.asarray(images, np.float32), 8).reshape(len(images), -1)
    return np.argmax(features @ self.weights[:-1] + self.weights[-1], axis=1)


@functools.cache
def digits_judge() -> DigitsJudge:
  """Trained once per process on the digits' 80% split (well under a second)."""

  def features(split):
    source = image_data.load_digits(split)
    return image_data.to_model_range(source.images).reshape(len(source), -1), source.labels

  x_train, y_train = features("train80")
  x_test, y_test = features("test20")
  weights = fit_softmax_regression(x_train, y_train, 10)
  judge = DigitsJudge(weights, 0.0)
  accuracy = float(np.mean(judge.predict(x_test.reshape(-1, 8, 8, 1)) == y_test))
  return dataclasses.replace(judge, test_accuracy=accuracy)


@dataclasses.dataclass(frozen=True)
class DomainJudge:
  """predict(images in [−1, 1]) → 0 for domain A, 1 for domain B."""

  weights: np.ndarray
  size: int  # images are averaged down to size×size before the linear model
  grayscale: bool  # when the domains differ in channels, both are compared in gray
  train_accuracy: float = 0.0

  def features(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if self.grayscale:
      images = images.mean(axis=-1, keepdims=True)
    return block_average(images, self.size).reshape(len(images), -1)

  def predict(self, images: np.ndarray) -> np.ndarray:
    return np.argmax(self.features(images) @ self.weights[:-1] + self.weights[-1], axis=1)


def domain_judge(images_a: np.ndarray, images_b: np.ndarray) -> DomainJudge:
  """Logistic regression telling real A images from real B images (pixels averaged down to at
  most 16×16): the independent check that translations land in the other domain."""
  size = images_a.shape[1]
  while size > 16 and size % 2 == 0:
    size //= 2
  judge = DomainJudge(np.zeros(0), size, images_a.shape[-1] != images_b.shape[-1])
  x = np.concatenate([judge.features(images_a), judge.features(images_b)])
  y = np.concatenate([np.zeros(len(images_a), int), np.ones(len(images_b), int)])
  judge = dataclasses.replace(judge, weights=fit_softmax_regression(x, y, 2))
  accuracy = float(np.mean(np.argmax(x @ judge.weights[:-1] + judge.weights[-1], axis=1) == y))
  return dataclasses.replace(judge, train_accuracy=accuracy)
