"""Chapter 4, loss functions: the seed's four printed numbers, exactly as the book prints them.

    python scripts/textbook/ch04_loss_functions.py

``main`` prints the four numbers alone; ``run`` (what scripts/reproduce.py calls) also checks the
shapes of a mini-batch of 10 drawn from MNIST with one-hot labels, as the book does.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import cross_entropy_error, mean_squared_error
from scratchnet_book.experiment import Context, Report
from scratchnet_book.outputs import write_json
from scratchnet_book.training import load_mnist_arrays

NAME = "ch04_loss_functions"
BOOK = {"mse_y1": 0.09750000000000003, "mse_y2": 0.5975,
        "ce_y1": 0.510825457099338, "ce_y2": 2.302584092994546}
BOOK_SHAPES = {"x_train": (60000, 784), "t_train": (60000, 10), "x_batch": (10, 784), "t_batch": (10, 10)}

#: The book's two outputs of a 10-class network and the teacher "this image is a 2".
Y1 = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y2 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def compute() -> dict[str, float]:
    """Return the four numbers: MSE and CE of y1 (confident, right) and y2 (confident, wrong)."""
    y1, y2, t = np.array(Y1), np.array(Y2), np.array(T)
    return {
        "mse_y1": mean_squared_error(y1, t),
        "mse_y2": mean_squared_error(y2, t),
        "ce_y1": cross_entropy_error(y1, t),
        "ce_y2": cross_entropy_error(y2, t),
    }


def run(ctx: Context) -> Report:
    report = Report(NAME)
    r = compute()
    for key, book in BOOK.items():
        report.check_exact(key, book, r[key])
    x_train, labels, _, _ = load_mnist_arrays()
    t_train = np.eye(10, dtype=np.float32)[labels]  # one-hot, as load_mnist(one_hot_label=True) gives
    batch = np.random.default_rng(ctx.seeds[0]).choice(len(x_train), 10)
    shapes = {"x_train": x_train.shape, "t_train": t_train.shape,
              "x_batch": x_train[batch].shape, "t_batch": t_train[batch].shape}
    for key, book in BOOK_SHAPES.items():
        report.check_exact(f"{key}.shape", book, shapes[key])
    report.numbers = {**r, **{f"{k}.shape": list(v) for k, v in shapes.items()}}
    report.add_file(write_json(ctx.out / "losses.json", report.numbers))
    return report


def main(argv: list[str] | None = None) -> int:
    r = compute()
    for key in ("mse_y1", "mse_y2", "ce_y1", "ce_y2"):
        print(r[key])
    return 0


if __name__ == "__main__":
    sys.exit(main())
