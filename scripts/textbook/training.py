"""What the training experiments share: MNIST arrays, one training run, and the chapter 6 set-ups
that several experiments use (the 784-[100x4]-10 comparisons, the 300-image overfitting runs).

An experiment imports these from here, never from another experiment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scratchnet.plot import moving_mean
from scratchnet_book.experiment import TOLERANCES, Context, Report
from scratchnet_book.outputs import write_csv

#: Quick mode measures accuracies on this many random train and test images, not on all.
QUICK_EVAL_SUBSET = 2000

def load_mnist_arrays(**kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x_train, t_train, x_test, t_test`` from ``dataset.mnist.load_mnist`` (normalised, flat, labels)."""
    from dataset.mnist import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True, one_hot_label=False,
                                                      **kwargs)
    return x_train, t_train, x_test, t_test


def mean_last(losses: Sequence[float], n: int = 100) -> float:
    """The mean of the last ``n`` losses (the book's measure in chapter 6)."""
    return float(np.mean(np.asarray(losses, dtype=np.float64)[-n:]))


def train(ctx: Context, network, data: Sequence[np.ndarray], tag: str | None = None, *,
          allow_divergence: bool = False, **trainer_kwargs):
    """Train ``network`` with :class:`scratchnet.Trainer` on ``data = (x_train, t_train, x_test, t_test)``.

    Nothing is checkpointed (an experiment is rerun, not resumed). In quick mode accuracies are
    measured on ``QUICK_EVAL_SUBSET`` random train and test images. With ``tag``, the loss per step and
    the accuracies per epoch go to ``<tag>_loss.csv`` and ``<tag>_accuracy.csv`` in ``ctx.out``.
    With ``allow_divergence``, a loss that becomes NaN or infinite ends training early instead of
    raising: the result has ``status="diverged"`` and the history up to the last good step.

    Returns
    -------
    scratchnet.trainer.TrainResult
    """
    from scratchnet import Trainer
    from scratchnet.trainer import TrainingDiverged, TrainResult

    if ctx.quick and min(len(data[0]), len(data[2])) > QUICK_EVAL_SUBSET:
        trainer_kwargs.setdefault("eval_subset", QUICK_EVAL_SUBSET)
    trainer = Trainer(network, *data, save=False, progress=ctx.progress, **trainer_kwargs)
    try:
        result = trainer.fit()
    except TrainingDiverged:
        if not allow_divergence:
            raise
        last = trainer.history["eval"][-1]
        result = TrainResult("diverged", trainer.step, trainer.step / trainer.steps_per_epoch, math.nan,
                             last["train_acc"], last["test_acc"], math.nan, None, None, trainer.history)
    if tag is not None:
        write_csv(ctx.out / f"{tag}_loss.csv", ["step", "loss"], enumerate(result.history["loss"], 1))
        keys = ["step", "epoch", "train_acc", "test_acc"]
        write_csv(ctx.out / f"{tag}_accuracy.csv", keys,
                  ([e[k] for k in keys] for e in result.history["eval"]))
    return result


# ------------------------------------------------------- chapter 6: 784-[100x4]-10, one line per variant
#: Sections 6.1 (optimisers) and 6.2 (initial weights): steps, quick-mode steps, batch size.
COMPARE_ITERS, COMPARE_QUICK_ITERS, COMPARE_BATCH_SIZE = 2000, 300, 128


def train_variants(ctx: Context, variants: dict[str, dict], iters: int, seed: int) -> dict[str, list[float]]:
    """Train the book's 784-[100x4]-10 ReLU network once per variant with ``seed``; return the losses.

    ``variants`` maps a label to ``weight_init_std``, ``optimizer`` and ``optimizer_params``. Every
    variant starts from its own network drawn with ``seed`` and sees the same batches.
    """
    from scratchnet import MultiLayerNet

    data = load_mnist_arrays()
    losses: dict[str, list[float]] = {}
    for label, v in variants.items():
        ctx.log(f"{ctx.out.name}: {label}, seed {seed}, {iters} steps")
        net = MultiLayerNet(784, [100] * 4, 10, activation="relu", weight_init_std=v["weight_init_std"],
                            seed=seed, dtype=np.float32)
        result = train(ctx, net, data, optimizer=v["optimizer"], optimizer_params=v["optimizer_params"],
                       batch_size=COMPARE_BATCH_SIZE, iters=iters, seed=seed)
        losses[label] = result.history["loss"]
    return losses


def loss_means(ctx: Context, report: Report, results: dict[int, dict[str, list[float]]], labels):
    """``(losses[label][seed], means[label])``: each variant's losses and, per seed, the mean of its last
    100 (recorded in ``report.numbers``)."""
    losses = {label: {seed: results[seed][label] for seed in ctx.seeds} for label in labels}
    means = {label: [mean_last(losses[label][s]) for s in ctx.seeds] for label in labels}
    report.numbers["mean of the last 100 losses by seed"] = {
        label: [round(m, 4) for m in values] for label, values in means.items()}
    return losses, means


def check_loss_factors(report: Report, means: dict[str, list[float]], books: dict[str, float]) -> None:
    """Check every seed's mean of the last 100 losses within a factor (TOLERANCES) of the book's."""
    k = TOLERANCES["loss_factor"]
    for label, book in books.items():
        report.check_seeds(f"{label} mean of last 100 losses", book, means[label], book / k, book * k,
                           f"x{k:g} every seed")


def write_losses(path: Path, losses: dict[str, dict[int, list[float]]]) -> Path:
    """The losses of every step, ``losses[label][seed]``, as a CSV: seed, step, one column per label."""
    labels = list(losses)
    seeds = list(losses[labels[0]])
    rows = [(seed, step, *(losses[label][seed][step - 1] for label in labels))
            for seed in seeds for step in range(1, len(losses[labels[0]][seed]) + 1)]
    return write_csv(path, ["seed", "step", *labels], rows)


def loss_figure(ctx: Context, name: str, losses: dict[str, dict[int, list[float]]], title: str,
                ylim: float) -> Path | None:
    """The first seed's loss curves, a moving mean of 50 steps, one line per variant."""
    def draw(fig):
        ax = fig.subplots()
        seed = ctx.seeds[0]
        for label, by_seed in losses.items():
            loss = np.asarray(by_seed[seed])
            window = min(50, len(loss))
            ax.plot(np.arange(window, len(loss) + 1), moving_mean(loss, window), label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (moving mean of 50 steps)")
        ax.set_ylim(0, ylim)
        ax.set_title(f"{title}, seed {seed}")
        ax.legend()
    return ctx.figure(name, draw)


# ------------------------------------------------------- chapter 6: overfitting 300 training images
#: Section 6.4 (weight decay, dropout): training images and batch size.
OVERFIT_TRAIN_SIZE, OVERFIT_BATCH_SIZE = 300, 100


def small_data(quick: bool):
    """The first 300 training images; all test images (2000 in quick mode)."""
    x_train, t_train, x_test, t_test = load_mnist_arrays()
    n_test = 2000 if quick else len(x_test)
    return x_train[:OVERFIT_TRAIN_SIZE], t_train[:OVERFIT_TRAIN_SIZE], x_test[:n_test], t_test[:n_test]


def check_gap_shrinks(report: Report, what: str, book: str, plain, treated) -> None:
    """Check on every seed that the train-test accuracy gap is smaller with ``what``.

    ``plain``, ``treated``: (train_acc, test_acc) per seed, without and with it."""
    before, after = ([tr - te for tr, te in accs] for accs in (plain, treated))
    report.check(f"train-test gap smaller with {what}", book,
                 " / ".join(f"{a:.3f} -> {b:.3f}" for a, b in zip(before, after)),
                 all(b < a for a, b in zip(before, after)), "every seed")


def accuracy_figure(ctx: Context, name: str, histories: dict[str, dict]) -> Path | None:
    """Train and test accuracy per epoch, one panel per titled history (the book's figures 6-20 to 6-23)."""
    def draw(fig):
        for ax, (title, history) in zip(fig.subplots(1, len(histories), sharey=True), histories.items()):
            evals = history["eval"]
            epoch = [e["epoch"] for e in evals]
            ax.plot(epoch, [e["train_acc"] for e in evals], label="train")
            ax.plot(epoch, [e["test_acc"] for e in evals], "--", label="test")
            ax.set_title(f"{title} (seed {ctx.seeds[0]})")
            ax.set_xlabel("epoch")
            ax.set_ylim(0, 1.02)
            ax.legend(loc="lower right")
        fig.supylabel("accuracy")
    return ctx.figure(name, draw, figsize=(10, 4))


# ------------------------------------------------------- chapters 7 and 8: the conv nets
#: How scripts/train.py trains the conv nets of the shipped weights: Adam, lr 0.001, batches of 100.
CONV_OPTIMIZER, CONV_LR, CONV_BATCH_SIZE = "adam", 0.001, 100
#: Quick mode measures the conv nets' accuracy on this many train and test images (a forward pass of
#: DeepConvNet costs about a third of a training step).
CONV_QUICK_EVAL_SUBSET = 500


def image_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST as images: x_train (60000, 1, 28, 28), t_train, x_test (10000, 1, 28, 28), t_test.
    """
    x_train, t_train, x_test, t_test = load_mnist_arrays()
    return x_train.reshape(-1, 1, 28, 28), t_train, x_test.reshape(-1, 1, 28, 28), t_test


def train_like_shipped(ctx: Context, name: str, seed: int, tag: str | None = None, **length):
    """Train the network ``name`` of :mod:`scratchnet_book.weights` from ``seed`` as train.py does.

    ``scripts/train.py --network ... --optimizer adam --lr 0.001 --seed S --eval-subset 10000``: the
    same initial weights, the same batches (the evaluation subset, every test image in a fixed random
    order, is drawn from the batch stream), so on the same machine the full run retrains the shipped
    weights. Quick mode evaluates on ``CONV_QUICK_EVAL_SUBSET`` images. ``length``: ``epochs=`` or
    ``iters=``. Returns ``(net, TrainResult)``.
    """
    from scratchnet_book.weights import make_network

    data = image_arrays()
    net = make_network(name, seed)
    subset = {"eval_subset": CONV_QUICK_EVAL_SUBSET if ctx.quick else len(data[2])}
    result = train(ctx, net, data, tag, optimizer=CONV_OPTIMIZER, optimizer_params={"lr": CONV_LR},
                   batch_size=CONV_BATCH_SIZE, seed=seed, **subset, **length)
    return net, result


def conv_task(ctx: Context, name: str, seed: int, epochs: int, quick_iters: int) -> dict:
    """One seed's training of chapter 7's or 8's net (``quick_iters`` steps in quick mode), as plain data."""
    ctx.log(f"{ctx.out.name}: {name}, seed {seed}, "
            + (f"{quick_iters} steps" if ctx.quick else f"{epochs} epochs"))
    length = {"iters": quick_iters} if ctx.quick else {"epochs": epochs}
    _, result = train_like_shipped(ctx, name, seed, f"seed{seed}", **length)
    return {"test_acc": result.test_acc, "train_acc": result.train_acc, "wall_s": result.wall_time_s,
            "history": result.history}


def conv_report(ctx: Context, report, name: str, results: dict[int, dict], book: float, lo: float,
                hi: float, quick_min: float, figure: str):
    """Checks of chapter 7's or 8's training: the shipped weights' accuracy, every seed's, the retrained.

    Every seed's test accuracy must lie in [lo, hi] (quick mode: above ``quick_min``); the full run
    also compares the seed of the shipped weights with their recorded accuracy (to 0.002: the same
    run, the accuracies measured on differently batched forward passes).
    """
    from scratchnet_book.weights import read_meta

    acc = [results[s]["test_acc"] for s in ctx.seeds]
    shipped = read_meta(name)
    bounds = f"±{hi - book:.3f}" if math.isclose(hi - book, book - lo) else f">= {lo:.4f}"
    report.numbers = {"test accuracy by seed": acc,
                      "train wall time by seed (s)": [round(results[s]["wall_s"], 1) for s in ctx.seeds],
                      **{f"shipped weights' {k}": shipped.get(k)
                         for k in ("test_accuracy", "epochs", "train_wall_s", "command")}}
    ok = lo <= shipped["test_accuracy"] <= hi
    epochs = shipped.get("epochs")
    epochs = f"{epochs:g}" if isinstance(epochs, (int, float)) else "?"
    report.check(f"shipped weights' test accuracy ({epochs} epochs, seed {shipped['seed']})",
                 book, f"{shipped['test_accuracy']:.4f}", ok, bounds)
    if ctx.quick:
        steps = len(results[ctx.seeds[0]]["history"]["loss"])
        report.check_seeds(f"test accuracy after {steps} steps (quick: not the book's number)",
                           f"> {quick_min}", acc, quick_min, 1.0, "sanity")
    else:
        epochs = results[ctx.seeds[0]]["history"]["eval"][-1]["epoch"]
        report.check_seeds(f"test accuracy after {epochs:g} epochs", book, acc, lo, hi,
                           f"{bounds} every seed")
        if shipped["seed"] in results:
            ours = results[shipped["seed"]]["test_acc"]
            report.check(f"retrained seed {shipped['seed']} against the shipped weights",
                         shipped["test_accuracy"], f"{ours:.4f}",
                         abs(ours - shipped["test_accuracy"]) <= 0.002, "±0.002")
    report.add_file(ctx.curves(figure, results[ctx.seeds[0]]["history"]))
    return report
