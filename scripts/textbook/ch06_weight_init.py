"""Chapter 6: the initial weights' scale decides whether a deep ReLU network learns at all.

    python scripts/textbook/ch06_weight_init.py [--quick] [--seeds 0 1 2] [--out DIR]

As in the book: 784-100-100-100-100-10 ReLU networks, SGD lr 0.01, batches of 128, 2000 steps,
initial weights with std 0.01, Xavier (sqrt(1/n)) or He (sqrt(2/n)). Mean of the last 100 losses:
the book's ≈ 2.30 (std 0.01 learns nothing), ≈ 0.30 (Xavier), ≈ 0.20 (He). Checked on every seed:
std 0.01 within 0.02 of 2.30, Xavier and He within a factor of 2; He below Xavier on the mean over
seeds. float32 networks. ``--quick``: 300 steps, checks std 0.01 stuck at 2.30 and He below Xavier.
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

NAME = "ch06_weight_init"
#: label -> (weight_init_std, the book's mean of the last 100 losses)
INITS = {"std=0.01": (0.01, 2.30), "Xavier": ("xavier", 0.30), "He": ("he", 0.20)}
STUCK_TOL = 0.02


VARIANTS = {label: {"weight_init_std": std, "optimizer": "sgd", "optimizer_params": {"lr": 0.01}}
            for label, (std, _) in INITS.items()}


def task(ctx: Context, seed: int) -> dict[str, list[float]]:
    return train_variants(ctx, VARIANTS, COMPARE_QUICK_ITERS if ctx.quick else COMPARE_ITERS, seed)


def summarize(ctx: Context, results: dict[int, dict[str, list[float]]]) -> Report:
    report = Report(NAME)
    losses, means = loss_means(ctx, report, results, INITS)

    report.check_seeds("std=0.01 mean of last 100 losses (learns nothing)", 2.30, means["std=0.01"],
                       2.30 - STUCK_TOL, 2.30 + STUCK_TOL, f"±{STUCK_TOL} every seed")
    he, xavier = float(np.mean(means["He"])), float(np.mean(means["Xavier"]))
    report.check("He below Xavier (mean over seeds)", "0.20 < 0.30", f"{he:.4f} < {xavier:.4f}", he < xavier,
                 "order")
    if not ctx.quick:
        check_loss_factors(report, means, {label: INITS[label][1] for label in ("Xavier", "He")})
    report.add_file(write_losses(ctx.out / "losses.csv", losses))
    report.add_file(loss_figure(ctx, "weight_init.png", losses,
                                "weight initialisation, 784-[100x4]-10 ReLU, SGD lr 0.01", 2.5))
    return report


tasks = seed_tasks
run = make_run(tasks, task, summarize)


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
