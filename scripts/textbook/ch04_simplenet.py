"""Chapter 4: simpleNet, one 2x3 weight layer with softmax and cross-entropy, and its numerical gradient.

    python scripts/textbook/ch04_simplenet.py [--out runs/textbook/ch04_simplenet]

The book draws W at random and prints it; we use the W it prints, so the prediction for
x = [0.6, 0.9] is the book's [1.05414809, 0.63071653, 1.1328074]. The numerical gradient dL/dW of
the loss for the teacher t = [0, 0, 1] is compared with its closed form x^T (softmax(xW) - t).
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import cross_entropy_error, numerical_gradient, rel_error, softmax
from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_json

NAME = "ch04_simplenet"

#: The W the book prints (section 4.4.2) and its prediction for X.
BOOK_W = [[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]]
X = [0.6, 0.9]
T = [0, 0, 1]
BOOK_P = ["1.05414809", "0.63071653", "1.1328074"]


class SimpleNet:
    """The book's simpleNet: ``predict(x) = x @ W``, ``loss`` = cross-entropy of its softmax."""

    def __init__(self, W) -> None:
        self.W = np.array(W, dtype=np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.W

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return cross_entropy_error(softmax(self.predict(x)), t)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    net = SimpleNet(BOOK_W)
    x, t = np.array(X), np.array(T)
    p = net.predict(x)
    report.check_printed("predict(x)", BOOK_P, p)
    report.check("argmax of predict(x)", 2, int(np.argmax(p)), int(np.argmax(p)) == 2, "exact")

    # f ignores its argument: numerical_gradient perturbs net.W in place, as the book's lambda does.
    dW = numerical_gradient(lambda _: net.loss(x, t), net.W)
    y = softmax(p)
    # The book's loss is -log(y_k + 1e-7): its exact derivative carries the factor y_k / (y_k + 1e-7).
    yk = float(y @ t)
    closed = np.outer(x, yk / (yk + 1e-7) * (y - t))
    err = rel_error(dW, closed)
    report.check("rel error of dW against x^T (softmax(xW) - t)", "< 1e-9", f"{err:.2e}", err < 1e-9, "1e-9")
    report.check("each row of dW sums to 0", "0", f"{np.abs(dW.sum(axis=1)).max():.1e}",
                 np.abs(dW.sum(axis=1)).max() < 1e-6, "1e-6")
    report.numbers = {"W": net.W.tolist(), "predict(x)": p.tolist(), "loss": net.loss(x, t),
                      "dW": dW.tolist()}
    report.add_file(write_json(ctx.out / "simplenet.json", report.numbers))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
