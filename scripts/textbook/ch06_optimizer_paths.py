"""Chapter 6: SGD, Momentum, AdaGrad and Adam on f(x, y) = x^2 / 20 + y^2 (the four paths figure).

    python scripts/textbook/ch06_optimizer_paths.py [--out runs/textbook/ch06_optimizer_paths]

30 steps from (-7, 2) with the book's learning rates (SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3),
using scratchnet's optimisers on a two-parameter dict. The function is 20 times steeper in y than in
x: SGD zig-zags across the valley (its y changes sign at every step) while crawling along x.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import get_optimizer
from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_csv, write_json

NAME = "ch06_optimizer_paths"
START = (-7.0, 2.0)
STEPS = 30
LEARNING_RATES = {"SGD": 0.95, "Momentum": 0.1, "AdaGrad": 1.5, "Adam": 0.3}


def f(x, y):
    return x**2 / 20.0 + y**2


def df(x, y):
    return x / 10.0, 2.0 * y


def descend(name: str, lr: float, steps: int = STEPS) -> np.ndarray:
    """The points visited, (steps + 1, 2), from START."""
    params = {"x": np.array([START[0]]), "y": np.array([START[1]])}
    optimizer = get_optimizer(name.lower(), lr=lr)
    path = [START]
    for _ in range(steps):
        dx, dy = df(params["x"], params["y"])
        optimizer.update(params, {"x": dx, "y": dy})
        path.append((float(params["x"][0]), float(params["y"][0])))
    return np.array(path)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    paths = {name: descend(name, lr) for name, lr in LEARNING_RATES.items()}
    start_value = f(*START)
    for name, path in paths.items():
        end = path[-1]
        report.numbers[f"{name} end point"] = end.tolist()
        report.numbers[f"{name} f(end)"] = float(f(*end))
        report.check(f"{name} descends: f(end) < f(start) = {start_value:.2f}", "descends",
                     f"{f(*end):.3g}", f(*end) < start_value, "")
    flips = int(np.sum(np.sign(paths["SGD"][1:, 1]) != np.sign(paths["SGD"][:-1, 1])))
    report.check("SGD zig-zags: sign changes of y in 30 steps", "zig-zag (figure 6-3)", flips, flips == STEPS,
                 "every step")
    report.add_file(write_json(ctx.out / "end_points.json", report.numbers))
    report.add_file(write_csv(ctx.out / "paths.csv", ["optimizer", "step", "x", "y"],
                              [(n, i, *p) for n, path in paths.items() for i, p in enumerate(path)]))

    def draw(fig):
        xs, ys = np.meshgrid(np.arange(-10, 10, 0.05), np.arange(-10, 10, 0.05))
        for ax, (name, path) in zip(fig.subplots(2, 2).ravel(), paths.items()):
            ax.contour(xs, ys, f(xs, ys), levels=np.linspace(0.5, 12, 8), colors="#bbbbbb", linewidths=0.8)
            ax.plot(path[:, 0], path[:, 1], "o-", color="tab:red", ms=3)
            ax.plot(0, 0, "+", color="black")
            ax.set_xlim(-10, 10)
            ax.set_ylim(-10, 10)
            ax.set_title(f"{name} (lr {LEARNING_RATES[name]})")
            ax.set_xlabel("x")
            ax.set_ylabel("y")
    report.add_file(ctx.figure("optimizer_paths.png", draw, figsize=(9, 8)))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
