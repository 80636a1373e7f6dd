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


def run(ctx: Context) -> Report:
    report = Report(NAME)
    data = load_mnist_arrays()
    iters = QUICK_ITERS if ctx.quick else ITERS
    losses: dict[str, dict[int, list[float]]] = {name: {} for name in OPTIMIZERS}
    for seed in ctx.seeds:
        for name, (params, _) in OPTIMIZERS.items():
            ctx.log(f"{NAME}: {name}, seed {seed}, {iters} steps")
            # One initial network per seed, shared by the four optimisers, as in the book.
            net = MultiLayerNet(784, [100] * 4, 10, activation="relu", weight_init_std="he", seed=seed,
                                dtype=np.float32)
            result = train(ctx, net, data, optimizer=name.lower(), optimizer_params=params,
                           batch_size=BATCH_SIZE, iters=iters, seed=seed)
            losses[name][seed] = result.history["loss"]

    means = {name: [mean_last(losses[name][s]) for s in ctx.seeds] for name in OPTIMIZERS}
    report.numbers["mean of the last 100 losses by seed"] = {
        name: [round(m, 4) for m in values] for name, values in means.items()}
    others = [name for name in OPTIMIZERS if name != "SGD"]
    ratio = [means["SGD"][i] / max(means[n][i] for n in others) for i in range(len(ctx.seeds))]
    report.check_seeds("SGD / next worst (SGD clearly worst)", "3.4 (0.200 / 0.058)", ratio, CLEARLY_WORST,
                       np.inf, f">= {CLEARLY_WORST} every seed")
    if not ctx.quick:
        k = TOLERANCES["loss_factor"]
        for name, (_, book) in OPTIMIZERS.items():
            report.check_seeds(f"{name} mean of last 100 losses", book, means[name], book / k, book * k,
                               f"x{k:g} every seed" if name != "SGD" else f"x{k:g} every seed")
    rows = [(seed, step, *(losses[n][seed][step - 1] for n in OPTIMIZERS))
            for seed in ctx.seeds for step in range(1, iters + 1)]
    report.add_file(write_csv(ctx.out / "losses.csv", ["seed", "step", *OPTIMIZERS], rows))

    def draw(fig):
        ax = fig.subplots()
        seed = ctx.seeds[0]
        for name in OPTIMIZERS:
            loss = np.asarray(losses[name][seed])
            window = min(50, len(loss))
            smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
            ax.plot(np.arange(window, len(loss) + 1), smooth, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(f"loss (mean of {window} steps)")
        ax.set_ylim(0, 1)
        ax.set_title(f"optimisers on MNIST, 784-[100x4]-10 ReLU, seed {seed}")
        ax.legend()
    report.add_file(ctx.figure("optimizer_mnist.png", draw))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
