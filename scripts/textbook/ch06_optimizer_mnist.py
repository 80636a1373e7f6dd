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

from scratchnet_book.experiment import Context, Report, make_main, make_run, seed_tasks
from scratchnet_book.training import (
    COMPARE_ITERS,
    COMPARE_QUICK_ITERS,
    check_loss_factors,
    loss_figure,
    loss_means,
    train_variants,
    write_losses,
)

NAME = "ch06_optimizer_mnist"
#: optimiser -> (its parameters, the book's mean of the last 100 losses)
OPTIMIZERS = {
    "SGD": ({"lr": 0.01}, 0.200),
    "Momentum": ({"lr": 0.01, "momentum": 0.9}, 0.058),
    "AdaGrad": ({"lr": 0.01}, 0.030),
    "Adam": ({"lr": 0.001}, 0.032),
}
#: SGD counts as clearly the worst when its loss is at least this many times the next worst.
CLEARLY_WORST = 1.5
VARIANTS = {name: {"weight_init_std": "he", "optimizer": name.lower(), "optimizer_params": params}
            for name, (params, _) in OPTIMIZERS.items()}


def task(ctx: Context, seed: int) -> dict[str, list[float]]:
    return train_variants(ctx, VARIANTS, COMPARE_QUICK_ITERS if ctx.quick else COMPARE_ITERS, seed)


def summarize(ctx: Context, results: dict[int, dict[str, list[float]]]) -> Report:
    report = Report(NAME)
    losses, means = loss_means(ctx, report, results, OPTIMIZERS)
    others = [name for name in OPTIMIZERS if name != "SGD"]
    ratio = [means["SGD"][i] / max(means[n][i] for n in others) for i in range(len(ctx.seeds))]
    report.check_seeds("SGD / next worst (SGD clearly worst)", "3.4 (0.200 / 0.058)", ratio, CLEARLY_WORST,
                       np.inf, f">= {CLEARLY_WORST} every seed")
    if not ctx.quick:
        check_loss_factors(report, means, {name: OPTIMIZERS[name][1] for name in others})
    report.add_file(write_losses(ctx.out / "losses.csv", losses))
    report.add_file(loss_figure(ctx, "optimizer_mnist.png", losses,
                                "optimisers on MNIST, 784-[100x4]-10 ReLU", 1.0))
    return report


tasks = seed_tasks
run = make_run(tasks, task, summarize)


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
