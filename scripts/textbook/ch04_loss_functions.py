"""Chapter 4, loss functions: the seed's four printed numbers, exactly as the book prints them.

    python scripts/textbook/ch04_loss_functions.py
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import cross_entropy_error, mean_squared_error

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


def main(argv: list[str] | None = None) -> int:
    r = compute()
    for key in ("mse_y1", "mse_y2", "ce_y1", "ce_y2"):
        print(r[key])
    return 0


if __name__ == "__main__":
    sys.exit(main())
