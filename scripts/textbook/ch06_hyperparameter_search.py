"""Chapter 6: random search for the learning rate and the weight decay, on a validation set.

    python scripts/textbook/ch06_hyperparameter_search.py [--quick] [--seeds 0 1 2] [--workers N] [--out DIR]

As in the book: the first 500 training images, shuffled, 20 % held out for validation (never the
test set); 784-[100x6]-10 ReLU networks, SGD, batches of 100, 50 epochs; 100 trials with the learning
rate 10^U(-6, -2) and the weight decay 10^U(-8, -4). The book finds the best trials with learning
rates of about 0.001 to 0.01 and validation accuracy near 0.8. Checked on every seed: the best
validation accuracy is at least 0.7 and the five best trials all have a learning rate >= 0.001.
float32 networks. ``--quick`` runs the book's second round only: 4 trials in the narrowed ranges
(learning rate 10^U(-3, -2), weight decay 10^U(-8, -6)), and checks that the best one learns
(validation accuracy > 0.5). Each trial draws its hyperparameters, weights and batches from its own
generator, seeded by the seed and the trial's number, so the trials can run in any order, in parallel
(``--workers``) or on other machines, and give the same numbers.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import MultiLayerNet
from scratchnet_book.experiment import Context, Report, make_main, make_run
from scratchnet_book.outputs import write_csv
from scratchnet_book.training import load_mnist_arrays, train

NAME = "ch06_hyperparameter_search"
TRAIN_SIZE, VALIDATION_RATE, BATCH_SIZE = 500, 0.20, 100
TRIALS, EPOCHS, QUICK_TRIALS, QUICK_EPOCHS = 100, 50, 4, 50
#: log10 ranges of the learning rate and the weight decay: the first round, and the narrowed second one.
LR_RANGE, DECAY_RANGE = (-6, -2), (-8, -4)
NARROW_LR_RANGE, NARROW_DECAY_RANGE = (-3, -2), (-8, -6)
BEST_VAL, TOP, TOP_MIN_LR = 0.7, 5, 1e-3


def split(seed: int) -> tuple[np.ndarray, ...]:
    """The first 500 training images shuffled by ``seed``: 400 to train on, 100 for validation."""
    x_train, t_train, _, _ = load_mnist_arrays()
    order = np.random.default_rng(seed).permutation(TRAIN_SIZE)
    x, t = x_train[:TRAIN_SIZE][order], t_train[:TRAIN_SIZE][order]
    n_val = int(TRAIN_SIZE * VALIDATION_RATE)
    # The validation set plays the Trainer's "test" role: the test set is never looked at.
    return x[n_val:], t[n_val:], x[:n_val], t[:n_val]


def tasks(ctx: Context) -> list[tuple[int, int]]:
    """One task per trial and seed."""
    return [(seed, i) for seed in ctx.seeds for i in range(QUICK_TRIALS if ctx.quick else TRIALS)]


def task(ctx: Context, key: tuple[int, int]) -> dict:
    """Trial ``i`` of ``seed``: its own generator draws the hyperparameters, the weights and the batches."""
    seed, i = key
    trials, epochs = (QUICK_TRIALS, QUICK_EPOCHS) if ctx.quick else (TRIALS, EPOCHS)
    lr_range, decay_range = (NARROW_LR_RANGE, NARROW_DECAY_RANGE) if ctx.quick else (LR_RANGE, DECAY_RANGE)
    rng = np.random.default_rng([seed, i])
    lr = 10 ** rng.uniform(*lr_range)
    decay = 10 ** rng.uniform(*decay_range)
    net = MultiLayerNet(784, [100] * 6, 10, activation="relu", weight_init_std="he",
                        weight_decay_lambda=decay, seed=rng, dtype=np.float32)
    result = train(ctx, net, split(seed), optimizer="sgd", optimizer_params={"lr": lr}, batch_size=BATCH_SIZE,
                   epochs=epochs, seed=rng, allow_divergence=True)
    ctx.log(f"{NAME}: seed {seed}, trial {i + 1}/{trials}: val acc {result.test_acc:.3f} | lr {lr:.2e}, "
            f"weight decay {decay:.2e}")
    return {"seed": seed, "trial": i, "lr": lr, "weight_decay": decay, "val_acc": result.test_acc,
            "train_acc": result.train_acc, "status": result.status,
            "val_curve": [e["test_acc"] for e in result.history["eval"]]}


def summarize(ctx: Context, results: dict[tuple[int, int], dict]) -> Report:
    report = Report(NAME)
    # Each seed's trials, best first (a stable sort: ties keep the trial order).
    by_seed = {seed: sorted((r for (s, _), r in sorted(results.items()) if s == seed),
                            key=lambda r: -r["val_acc"]) for seed in ctx.seeds}
    best = [r[0]["val_acc"] for r in by_seed.values()]
    report.numbers["best trials by seed (val_acc, lr, weight_decay)"] = {
        str(s): [(round(r["val_acc"], 3), float(f"{r['lr']:.3g}"), float(f"{r['weight_decay']:.3g}"))
                 for r in res[:TOP]] for s, res in by_seed.items()}
    if ctx.quick:
        report.check_seeds(f"best validation accuracy ({QUICK_TRIALS} trials in the narrowed ranges)",
                           "learns", best, 0.5, 1.0, "> 0.5")
    else:
        report.check_seeds("best validation accuracy", "about 0.8", best, BEST_VAL, 1.0,
                           f">= {BEST_VAL} every seed")
        low = [min(r["lr"] for r in res[:TOP]) for res in by_seed.values()]
        report.check_seeds(f"smallest learning rate among the {TOP} best trials", "0.001 to 0.01", low,
                           TOP_MIN_LR, 1.0, f">= {TOP_MIN_LR:g} every seed")
    rows = [(r["seed"], r["trial"], r["lr"], r["weight_decay"], r["train_acc"], r["val_acc"], r["status"])
            for res in by_seed.values() for r in res]
    header = ["seed", "trial", "lr", "weight_decay", "train_acc", "val_acc", "status"]
    report.add_file(write_csv(ctx.out / "trials.csv", header, rows))

    def draw(fig):
        res = by_seed[ctx.seeds[0]]
        shown = res[:20]
        cols = 5
        axes = fig.subplots(int(np.ceil(len(shown) / cols)), cols, sharex=True, sharey=True, squeeze=False)
        for ax, r in zip(axes.ravel(), shown):
            ax.plot(r["val_curve"])
            ax.set_title(f"val {r['val_acc']:.2f}, lr {r['lr']:.1e}\ndecay {r['weight_decay']:.1e}",
                         fontsize=7)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=6)
        fig.supxlabel("epoch")
        fig.supylabel("validation accuracy")
    report.add_file(ctx.figure("hyperparameter_search.png", draw, figsize=(10, 8)))
    return report


run = make_run(tasks, task, summarize)

main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
