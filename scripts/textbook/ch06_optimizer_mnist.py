"""Chapter 6: SGD, Momentum, AdaGrad and Adam training the same deep network on MNIST.

    python scripts/textbook/ch06_optimizer_mnist.py [--quick] [--seeds 0 1 2] [--out DIR]

As in the book: 784-100-100-100-100-10 ReLU networks with He initialisation, batches of 128,
2000 steps, each optimiser with the book's defaults (SGD lr 0.01, Momentum lr 0.01 and 0.9,
AdaGrad lr 0.01, Adam lr 0.001). The measure is the mean of the last 100 mini-batch losses; the
book's code gives SGD 0.200, Momentum 0.058, AdaGrad 0.030, Adam 0.032. On every seed SGD must be
clearly the worst (at least 1.5 times the next) and the other three within a factor of 2 of the
book. The networks are float32 (four times faster here; the losses do not depend on it).
``--quick`` runs 300 steps and checks the ranking only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from scratchnet import MultiLayerNet
from textbook._common import (
    TOLERANCES,
    Context,
    Report,
    load_mnist_arrays,
    make_main,
    mean_last,
    train,
    write_csv,
)

NAME = "ch06_optimizer_mnist"
#: optimiser -> (its parameters, the book's mean of the last 100 losses)
OPTIMIZERS = {
    "SGD": ({"lr": 0.01}, 0.200),
    "Momentum": ({"lr": 0.01, "momentum": 0.9}, 0.058),
    "AdaGrad": ({"lr": 0.01}, 0.030),
    "Adam": ({"lr": 0.001}, 0.032),
}
ITERS, QUICK_ITERS, BATCH_SIZE = 2000, 300, 128
#: SGD counts as clearly the worst when its loss is at least this many times the next worst.
CLEARLY_WORST = 1.5


def train_variants(ctx: Context, variants: dict[str, dict], iters: int) -> dict[str, dict[int, list[float]]]:
    """Train the book's 784-[100x4]-10 ReLU network once per variant and seed; return the losses.

    ``variants`` maps a label to ``weight_init_std``, ``optimizer`` and ``optimizer_params``. Every
    variant of a seed starts from its own network drawn with that seed and sees the same batches.
    The losses of every step go to losses.csv in ``ctx.out``.
    """
    data = load_mnist_arrays()
    losses: dict[str, dict[int, list[float]]] = {label: {} for label in variants}
    for seed in ctx.seeds:
        for label, v in variants.items():
            ctx.log(f"{ctx.out.name}: {label}, seed {seed}, {iters} steps")
            net = MultiLayerNet(784, [100] * 4, 10, activation="relu", weight_init_std=v["weight_init_std"],
                                seed=seed, dtype=np.float32)
            result = train(ctx, net, data, optimizer=v["optimizer"], optimizer_params=v["optimizer_params"],
                           batch_size=BATCH_SIZE, iters=iters, seed=seed)
            losses[label][seed] = result.history["loss"]
    rows = [(seed, step, *(losses[label][seed][step - 1] for label in variants))
            for seed in ctx.seeds for step in range(1, iters + 1)]
    write_csv(ctx.out / "losses.csv", ["seed", "step", *variants], rows)
    return losses


def loss_figure(ctx: Context, name: str, losses: dict[str, dict[int, list[float]]], title: str,
                ylim: float) -> Path | None:
    """The first seed's loss curves, a moving mean of 50 steps, one line per variant."""
    def draw(fig):
        ax = fig.subplots()
        seed = ctx.seeds[0]
        for label, by_seed in losses.items():
            loss = np.asarray(by_seed[seed])
            window = min(50, len(loss))
            ax.plot(np.arange(window, len(loss) + 1), np.convolve(loss, np.ones(window) / window, "valid"),
                    label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (moving mean of 50 steps)")
        ax.set_ylim(0, ylim)
        ax.set_title(f"{title}, seed {seed}")
        ax.legend()
    return ctx.figure(name, draw)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    iters = QUICK_ITERS if ctx.quick else ITERS
    variants = {name: {"weight_init_std": "he", "optimizer": name.lower(), "optimizer_params": params}
                for name, (params, _) in OPTIMIZERS.items()}
    losses = train_variants(ctx, variants, iters)
    means = {name: [mean_last(losses[name][s]) for s in ctx.seeds] for name in OPTIMIZERS}
    report.numbers["mean of the last 100 losses by seed"] = {
        name: [round(m, 4) for m in values] for name, values in means.items()}
    others = [name for name in OPTIMIZERS if name != "SGD"]
    ratio = [means["SGD"][i] / max(means[n][i] for n in others) for i in range(len(ctx.seeds))]
    report.check_seeds("SGD / next worst (SGD clearly worst)", "3.4 (0.200 / 0.058)", ratio, CLEARLY_WORST,
                       np.inf, f">= {CLEARLY_WORST} every seed")
    if not ctx.quick:
        k = TOLERANCES["loss_factor"]
        for name in others:
            book = OPTIMIZERS[name][1]
            report.check_seeds(f"{name} mean of last 100 losses", book, means[name], book / k, book * k,
                               f"x{k:g} every seed")
    report.add_file(ctx.out / "losses.csv")
    report.add_file(loss_figure(ctx, "optimizer_mnist.png", losses,
                                "optimisers on MNIST, 784-[100x4]-10 ReLU", 1.0))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
