"""Chapter 3: the three-layer forward pass with the book's fixed weights, and softmax.

    python scripts/textbook/ch03_forward.py [--out runs/textbook/ch03_forward]

Prints the network's output for x = [1.0, 0.5] and the softmax of [0.3, 2.9, 4.0]; the figure shows
the activation functions of the chapter (step, sigmoid, ReLU).
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import identity_function, relu, sigmoid, softmax, step_function
from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_json

NAME = "ch03_forward"

#: The book's weights, biases and input (section 3.4.3).
NETWORK = {
    "W1": [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]], "b1": [0.1, 0.2, 0.3],
    "W2": [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]], "b2": [0.1, 0.2],
    "W3": [[0.1, 0.3], [0.2, 0.4]], "b3": [0.1, 0.2],
}
X = [1.0, 0.5]
BOOK_Y = ["0.31682708", "0.69627909"]
SOFTMAX_IN = [0.3, 2.9, 4.0]
BOOK_SOFTMAX = ["0.01821127", "0.24519181", "0.73659691"]


def forward(network: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Sigmoid, sigmoid, identity: the book's ``forward``."""
    a1 = x @ network["W1"] + network["b1"]
    z1 = sigmoid(a1)
    a2 = z1 @ network["W2"] + network["b2"]
    z2 = sigmoid(a2)
    a3 = z2 @ network["W3"] + network["b3"]
    return identity_function(a3)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    network = {k: np.array(v) for k, v in NETWORK.items()}
    y = forward(network, np.array(X))
    s = softmax(np.array(SOFTMAX_IN))
    report.numbers = {"forward y": y.tolist(), "softmax": s.tolist(), "softmax sum": float(s.sum())}
    report.check_printed("forward pass y", BOOK_Y, y)
    report.check_printed("softmax([0.3, 2.9, 4.0])", BOOK_SOFTMAX, s)
    report.check("softmax sums to 1", 1.0, float(s.sum()), abs(s.sum() - 1.0) < 1e-15, "1e-15")
    report.add_file(write_json(ctx.out / "forward.json", report.numbers))

    def draw(fig):
        ax = fig.subplots()
        a = np.linspace(-5.0, 5.0, 201)
        ax.plot(a, step_function(a), "--", label="step")
        ax.plot(a, sigmoid(a), label="sigmoid")
        ax.plot(a, relu(a) / 5, ":", label="ReLU / 5")
        ax.set_xlabel("a")
        ax.set_ylabel("h(a)")
        ax.set_title("chapter 3 activation functions")
        ax.legend()
    report.add_file(ctx.figure("activations.png", draw))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
