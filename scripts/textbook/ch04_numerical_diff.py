"""Chapter 4: numerical differentiation and the gradient of f(x0, x1) = x0^2 + x1^2.

    python scripts/textbook/ch04_numerical_diff.py [--out runs/textbook/ch04_numerical_diff]

Prints the central-difference derivative of f(x) = 0.01x^2 + 0.1x at 5 and 10 (the book's
0.1999999999990898 and 0.2999999999986347, asserted exactly) and the gradients at (3, 4), (0, 2)
and (3, 0); the figure shows f with its tangent at x = 5, and the gradient field.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import numerical_diff, numerical_gradient
from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_csv, write_json

NAME = "ch04_numerical_diff"

BOOK_DIFF = {5.0: 0.1999999999990898, 10.0: 0.2999999999986347}
#: The points and the gradients the book prints ([6. 8.], [0. 4.], [6. 0.]).
BOOK_GRADIENTS = {(3.0, 4.0): ["6.", "8."], (0.0, 2.0): ["0.", "4."], (3.0, 0.0): ["6.", "0."]}


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return float(np.sum(x**2))


def run(ctx: Context) -> Report:
    report = Report(NAME)
    for x, book in BOOK_DIFF.items():
        ours = numerical_diff(function_1, x)
        report.numbers[f"numerical_diff(function_1, {x:g})"] = ours
        report.check_exact(f"numerical_diff(function_1, {x:g})", book, ours)
    for point, book in BOOK_GRADIENTS.items():
        g = numerical_gradient(function_2, np.array(point))
        report.numbers[f"numerical_gradient(function_2, {point})"] = g.tolist()
        report.check_printed(f"numerical_gradient(function_2, {point})", book, g)
    report.add_file(write_json(ctx.out / "numbers.json", report.numbers))

    x0, x1 = np.meshgrid(np.arange(-2.0, 2.5, 0.25), np.arange(-2.0, 2.5, 0.25))
    grads = np.array([numerical_gradient(function_2, np.array(p)) for p in zip(x0.ravel(), x1.ravel())])
    report.add_file(write_csv(ctx.out / "gradient_field.csv", ["x0", "x1", "df_dx0", "df_dx1"],
                              np.column_stack([x0.ravel(), x1.ravel(), grads]).tolist()))

    def draw(fig):
        ax_tangent, ax_field = fig.subplots(1, 2)
        x = np.arange(0.0, 20.0, 0.1)
        slope = numerical_diff(function_1, 5.0)
        ax_tangent.plot(x, function_1(x), label="f(x) = 0.01x² + 0.1x")
        ax_tangent.plot(x, slope * (x - 5.0) + function_1(5.0), "--",
                        label=f"tangent at 5 (slope {slope:.4f})")
        ax_tangent.set_xlabel("x")
        ax_tangent.set_ylabel("f(x)")
        ax_tangent.legend()
        ax_field.quiver(x0.ravel(), x1.ravel(), -grads[:, 0], -grads[:, 1], angles="xy", color="#666666")
        ax_field.set_xlabel("x0")
        ax_field.set_ylabel("x1")
        ax_field.set_title("−∇(x0² + x1²)")
    report.add_file(ctx.figure("numerical_diff.png", draw, figsize=(11, 4.5)))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
