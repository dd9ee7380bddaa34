"""Classifiers from the labels alone, beside the semi-supervised adversarial autoencoder: the
held-out error of scikit-learn's logistic regression, 1-nearest-neighbour and an MLP of the
AAE encoder's shape (two hidden layers of 1000 ReLU units), trained on the same labeled
examples the AAE run gets (data.semi_supervised.labeled_subset, same seed), and on every
training label.

  python benchmarks/semi_supervised_baselines.py [--num_labels=100] [--seed=0]

Prints one row per classifier; BENCHMARKS.md records them beside the AAE's error.
"""

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from jaxgan.data import semi_supervised
from jaxgan.kinds import autoencoding


def classifiers(seed: int):
  return {
    "logistic regression": LogisticRegression(max_iter=5000),
    "1-nearest neighbour": KNeighborsClassifier(1),
    "MLP 1000-1000 (the encoder's shape)": MLPClassifier(
      (1000, 1000), max_iter=2000, random_state=seed
    ),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num_labels", type=int, default=100)
  parser.add_argument("--seed", type=int, default=0, help="the AAE run's --seed")
  parser.add_argument("--image_size", type=int, default=16)
  args = parser.parse_args()
  train, test = autoencoding.load_splits("digits", args.image_size)
  labeled = semi_supervised.labeled_subset(train, args.num_labels, args.seed)
  x_test, y_test = test.examples(np.arange(len(test.source)))
  sets = {
    f"{args.num_labels} labels": labeled.examples(np.arange(len(labeled.source))),
    f"all {len(train.source)} labels": train.examples(np.arange(len(train.source))),
  }
  print(f"held-out error on {len(y_test)} digits ({args.image_size}×{args.image_size})")
  for name, model in classifiers(args.seed).items():
    errors = []
    for x, y in sets.values():
      model.fit(x.reshape(len(x), -1), y)
      errors.append(np.mean(model.predict(x_test.reshape(len(x_test), -1)) != y_test))
    cells = ", ".join(f"{s}: {100 * e:.2f}%" for s, e in zip(sets, errors, strict=True))
    print(f"  {name}: {cells}")


if __name__ == "__main__":
  main()
