"""Chapter 4: gradient descent on f(x0, x1) = x0^2 + x1^2 from (-3, 4), with three learning rates.

    python scripts/textbook/ch04_gradient_descent.py [--out runs/textbook/ch04_gradient_descent]

100 steps each: lr 0.1 reaches the minimum, lr 10 diverges, lr 1e-10 hardly moves. The paths go to
paths.csv and the figure of the descent path to gradient_descent.png.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import gradient_descent
from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_csv, write_json

NAME = "ch04_gradient_descent"

INIT = (-3.0, 4.0)
STEPS = 100
#: learning rate -> the end point the book prints
BOOK = {
    0.1: ["-6.11110793e-10", "8.14814391e-10"],
    10.0: ["-2.58983747e+13", "-1.29524862e+12"],
    1e-10: ["-2.99999994", "3.99999992"],
}


def function_2(x):
    return float(np.sum(x**2))


def run(ctx: Context) -> Report:
    report = Report(NAME)
    paths = {}
    for lr, book in BOOK.items():
        x, path = gradient_descent(function_2, np.array(INIT), lr=lr, step_num=STEPS, return_path=True)
        paths[lr] = path
        report.numbers[f"lr={lr:g}"] = x.tolist()
        report.check_printed(f"end point, lr={lr:g}", book, x)
    report.add_file(write_json(ctx.out / "end_points.json", report.numbers))
    rows = [(lr, step, *p) for lr, path in paths.items() for step, p in enumerate(path)]
    report.add_file(write_csv(ctx.out / "paths.csv", ["lr", "step", "x0", "x1"], rows))

    def draw(fig):
        ax = fig.subplots()
        path = paths[0.1]
        ax.plot([-5, 5], [0, 0], "--", color="#999999", lw=0.8)
        ax.plot([0, 0], [-5, 5], "--", color="#999999", lw=0.8)
        ax.plot(path[:, 0], path[:, 1], "o", ms=4)
        ax.set_xlim(-3.5, 3.5)
        ax.set_ylim(-4.5, 4.5)
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.set_title("gradient descent on x0² + x1², lr 0.1, from (−3, 4)")
    report.add_file(ctx.figure("gradient_descent.png", draw, figsize=(6, 6)))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
