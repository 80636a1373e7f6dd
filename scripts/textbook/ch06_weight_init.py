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

NAME = "ch06_weight_init"
#: label -> (weight_init_std, the book's mean of the last 100 losses)
INITS = {"std=0.01": (0.01, 2.30), "Xavier": ("xavier", 0.30), "He": ("he", 0.20)}
ITERS, QUICK_ITERS, BATCH_SIZE = 2000, 300, 128
STUCK_TOL = 0.02


def run(ctx: Context) -> Report:
    report = Report(NAME)
    data = load_mnist_arrays()
    iters = QUICK_ITERS if ctx.quick else ITERS
    losses: dict[str, dict[int, list[float]]] = {label: {} for label in INITS}
    for seed in ctx.seeds:
        for label, (std, _) in INITS.items():
            ctx.log(f"{NAME}: {label}, seed {seed}, {iters} steps")
            net = MultiLayerNet(784, [100] * 4, 10, activation="relu", weight_init_std=std, seed=seed,
                                dtype=np.float32)
            result = train(ctx, net, data, optimizer="sgd", optimizer_params={"lr": 0.01},
                           batch_size=BATCH_SIZE, iters=iters, seed=seed)
            losses[label][seed] = result.history["loss"]
    means = {label: [mean_last(losses[label][s]) for s in ctx.seeds] for label in INITS}
    report.numbers["mean of the last 100 losses by seed"] = {
        k: [round(m, 4) for m in v] for k, v in means.items()}

    report.check_seeds("std=0.01 mean of last 100 losses (learns nothing)", 2.30, means["std=0.01"],
                       2.30 - STUCK_TOL, 2.30 + STUCK_TOL, f"±{STUCK_TOL} every seed")
    he, xavier = float(np.mean(means["He"])), float(np.mean(means["Xavier"]))
    report.check("He below Xavier (mean over seeds)", "0.20 < 0.30", f"{he:.4f} < {xavier:.4f}", he < xavier,
                 "order")
    if not ctx.quick:
        k = TOLERANCES["loss_factor"]
        for label in ("Xavier", "He"):
            book = INITS[label][1]
            report.check_seeds(f"{label} mean of last 100 losses", book, means[label], book / k, book * k,
                               f"x{k:g} every seed")
    rows = [(seed, step, *(losses[label][seed][step - 1] for label in INITS))
            for seed in ctx.seeds for step in range(1, iters + 1)]
    report.add_file(write_csv(ctx.out / "losses.csv", ["seed", "step", *INITS], rows))

    def draw(fig):
        ax = fig.subplots()
        seed = ctx.seeds[0]
        for label in INITS:
            loss = np.asarray(losses[label][seed])
            window = min(50, len(loss))
            ax.plot(np.arange(window, len(loss) + 1), np.convolve(loss, np.ones(window) / window, "valid"),
                    label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (moving mean of 50 steps)")
        ax.set_ylim(0, 2.5)
        ax.set_title(f"weight initialisation, 784-[100x4]-10 ReLU, SGD lr 0.01, seed {seed}")
        ax.legend()
    report.add_file(ctx.figure("weight_init.png", draw))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
