"""Train a network on MNIST (or Fashion-MNIST) and watch it learn.

With no flags this is the textbook's chapter 4 experiment: TwoLayerNet 784-50-10 with sigmoid,
plain SGD with learning rate 0.1, mini-batches of 100 drawn at random, 10 000 steps. Progress
goes to stderr; the final accuracies, the wall time and where the curves are go to stdout.

Examples::

    python scripts/train.py                                   # the chapter 4 run
    python scripts/train.py --activation relu                 # chapter 5's network
    python scripts/train.py --hidden 100 --activation relu --optimizer adam
    python scripts/train.py --hidden 100,100 --epochs 5 --out runs/deep
    python scripts/train.py --resume runs/deep --epochs 10    # continue a run to 10 epochs

Exit status: 0 when training finished, 130 after Ctrl-C (a checkpoint is saved; resume with
``--resume RUN_DIR``), 1 when the loss diverged or a gradient check failed, 2 for bad flags.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scratchnet.optimizers import OPTIMIZERS
from scratchnet.plot import PLOT_HINT, text_plot
from scratchnet.trainer import GradientCheckError, Trainer, TrainingDiverged, read_checkpoint_meta
from scratchnet.util import blas_threads

#: Training-set sizes, to refuse a too-large batch before loading anything.
TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000}
TEST_SIZES = {"mnist": 10_000, "fashion-mnist": 10_000}
#: Textbook chapter 4: 10 000 steps.
DEFAULT_ITERS = 10_000
#: The learning rate when --lr is not given: chapter 4's 0.1 for SGD, the optimiser's own default otherwise.
DEFAULT_SGD_LR = 0.1
#: The gradient source when --grad is not given: the textbook's chapter 4 trains by numerical
#: gradient, which scratchnet's fast finite differences (scratchnet.fastgrad) make practical.
DEFAULT_GRAD = "numerical"
#: --network choices; the conv nets train by backprop in float32 unless --grad/--dtype say otherwise.
NETWORKS = ["mlp", "simpleconvnet", "deepconvnet"]
#: Flags that may change when resuming; the others must stay as the run was started.
RESUMABLE = {"epochs", "iters", "resume", "progress", "plot", "data_dir"}
#: Settings a checkpoint never decides: where the run is (the folder resumed) and where the data is.
NOT_FROM_FILE = {"resume", "out", "data_dir"}


def _number_type(parse, ok, expected: str):
    """An argparse type: ``parse(text)``, refused unless ``ok(value)``; the error says ``expected``."""
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value
    return convert


_positive_int = _number_type(int, lambda v: v >= 1, "a positive integer")
_nonnegative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number_type(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")


def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected widths separated by commas, like 50 or 100,100, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive widths, got {text!r}")
    return sizes


def _weight_init(text: str) -> float | str:
    if text.lower() in ("he", "relu", "xavier", "sigmoid"):
        return text.lower()
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive standard deviation or one of he, xavier, got {text!r}") from None


def build_parser(suppress_defaults: bool = False,
                 cls: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The command line; with ``suppress_defaults`` only the flags actually given are in the result."""
    kw = {"argument_default": argparse.SUPPRESS} if suppress_defaults else {}
    p = cls(
        prog="train.py",
        description="Train a network on MNIST with scratchnet (defaults: the textbook's chapter 4 run).",
        **kw,
    )

    def default(value):
        return argparse.SUPPRESS if suppress_defaults else value

    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive_int, default=default(None),
                        help="train this many epochs (an epoch is train_size / batch_size steps, rounded up)")
    length.add_argument("--iters", type=_positive_int, default=default(None),
                        help=f"train this many steps (default {DEFAULT_ITERS}, the textbook's)")
    p.add_argument("--batch-size", type=_positive_int, default=default(100),
                   help="mini-batch size (default 100)")
    p.add_argument("--lr", type=_positive_float, default=default(None),
                   help=f"learning rate (default {DEFAULT_SGD_LR} for sgd, else the optimizer's default)")
    p.add_argument("--optimizer", type=str.lower, choices=sorted(OPTIMIZERS), default=default("sgd"),
                   help="the update rule (default sgd)")
    p.add_argument("--network", choices=NETWORKS, default=default("mlp"),
                   help="mlp (default: TwoLayerNet/MultiLayerNet from --hidden), simpleconvnet (chapter 7) "
                        "or deepconvnet (chapter 8); the conv nets take images as (N, 1, 28, 28) and default "
                        "to --grad backprop --dtype float32")
    p.add_argument("--hidden", type=_hidden, default=default([50]),
                   help="hidden widths: 50 gives TwoLayerNet 784-50-10 (default); 100,100 a MultiLayerNet")
    p.add_argument("--activation", type=str.lower, choices=["sigmoid", "relu"], default=default("sigmoid"),
                   help="hidden activation (default sigmoid, as in chapter 4)")
    p.add_argument("--weight-init", type=_weight_init, default=default(None),
                   help="initial weight std, or he / xavier (default: 0.01 for one hidden layer as in the "
                        "book, he/xavier by activation for more)")
    p.add_argument("--grad", choices=["backprop", "numerical", "check"], default=default(None),
                   help=f"gradient by backprop, by numerical differentiation, or backprop cross-checked "
                        f"against numerical every --check-every steps (default {DEFAULT_GRAD} for mlp, "
                        "backprop for the conv nets)")
    p.add_argument("--check-every", type=_positive_int, default=default(100),
                   help="steps between gradient checks with --grad check (default 100)")
    p.add_argument("--sampling", choices=["random", "shuffle"], default=default("random"),
                   help="random: indices drawn with replacement each step, as in the book (default); "
                        "shuffle: a permutation per epoch")
    p.add_argument("--seed", type=_nonnegative_int, default=default(0), help="random seed (default 0)")
    p.add_argument("--dataset", choices=sorted(TRAIN_SIZES), default=default("mnist"), help="default mnist")
    p.add_argument("--data-dir", default=default(None),
                   help="dataset cache folder (default $SCRATCHNET_DATA or ~/.cache/scratchnet)")
    p.add_argument("--dtype", choices=["float64", "float32"], default=default(None),
                   help="parameter dtype (default float64; float32 for the conv nets unless --grad check)")
    p.add_argument("--eval-subset", type=_positive_int, default=default(None),
                   help="measure accuracy on a fixed random subset of this many samples (default: all)")
    p.add_argument("--out", default=default(None), help="run folder (default runs/<timestamp>)")
    p.add_argument("--resume", metavar="RUN_DIR", default=default(None),
                   help="continue the run saved in RUN_DIR, with its settings (--epochs/--iters may "
                        "extend it)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=default(True),
                   help="no progress bar")
    p.add_argument("--no-plot", dest="plot", action="store_false", default=default(True),
                   help="no curves.png and no text plot of the learning curve")
    return p


def _as_argv(parser: argparse.ArgumentParser, saved: dict) -> list[str]:
    """The command line that gives ``saved`` (a run's script settings), to check it like typed flags."""
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}
    unknown = sorted(set(saved) - set(actions))
    if unknown:
        raise ValueError(f"unexpected settings {unknown}")
    argv = []
    for dest, value in saved.items():
        flag = actions[dest].option_strings[0]
        if dest in NOT_FROM_FILE or value is None:
            continue
        if isinstance(actions[dest], argparse._StoreFalseAction):
            if not isinstance(value, bool):
                raise ValueError(f"{dest}: expected true or false, got {value!r}")
            argv += [] if value else [flag]
        elif dest == "hidden":
            if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                      for v in value):
                raise ValueError(f"hidden: expected a list of widths, got {value!r}")
            argv += [flag, ",".join(map(str, value))]
        else:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError(f"{dest}: expected a number or a name, got {value!r}")
            argv += [flag, str(value)]
    return argv


class _Refuse(argparse.ArgumentParser):
    """A parser that raises ValueError instead of exiting, to check values that were not typed."""

    def error(self, message: str):
        raise ValueError(message)


def saved_settings(run: str) -> dict:
    """The settings a run of this script saved in its checkpoint, each checked as if typed again.

    The file is data, not authority: it cannot name the data folder, and a value the command line
    would refuse (an unknown dataset, a negative seed) refuses the file.
    """
    meta = read_checkpoint_meta(run)
    saved = meta["config"].get("script")
    if not isinstance(saved, dict):
        raise ValueError("its configuration has no settings of scripts/train.py")
    checker = build_parser(cls=_Refuse)
    return vars(checker.parse_args(_as_argv(checker, saved)))


def _check_out(parser: argparse.ArgumentParser, out: str | None, resuming: bool) -> None:
    """Refuse an --out that is a file, is not writable, or holds another run (unless resuming it)."""
    if out is None:
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        parser.error(f"argument --out: expected a folder, got the existing file {out}")
    if not resuming and (path / "checkpoint.npz").exists():
        parser.error(f"argument --out: {out} already holds a run; resume it with --resume {out}")
    probe = path
    while not probe.exists():
        probe = probe.parent
    try:  # the only sure test of writing is to write (a read-only mount, permissions, quotas)
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".train-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        parser.error(f"argument --out: cannot write into {probe}: {e.strerror}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and check the flags; with --resume, take the run's saved settings."""
    parser = build_parser()
    args = parser.parse_args(argv)
    given = vars(build_parser(suppress_defaults=True).parse_args(argv))
    if args.resume is not None:
        try:
            saved = saved_settings(args.resume)
        except (OSError, ValueError, KeyError, TypeError) as e:
            parser.error(f"argument --resume: cannot resume from {args.resume}: {e}")
        changed = sorted(k for k in given if k not in RESUMABLE and given[k] != saved.get(k))
        if changed:
            flags = ", ".join(f"--{k.replace('_', '-')} (the run used {saved.get(k)!r})" for k in changed)
            parser.error(f"argument --resume: these flags cannot change when resuming: {flags}")
        resumed = argparse.Namespace(**{**saved, **{k: v for k, v in given.items() if k in RESUMABLE}})
        if "epochs" in given or "iters" in given:
            resumed.epochs, resumed.iters = given.get("epochs"), given.get("iters")
        resumed.out, resumed.data_dir = args.resume, given.get("data_dir")
        args = resumed
    if args.batch_size > TRAIN_SIZES[args.dataset]:
        parser.error(f"argument --batch-size: expected at most the training set size "
                     f"{TRAIN_SIZES[args.dataset]}, got {args.batch_size}")
    if args.eval_subset is not None and args.eval_subset > TEST_SIZES[args.dataset]:
        parser.error(f"argument --eval-subset: expected at most the test set size "
                     f"{TEST_SIZES[args.dataset]}, got {args.eval_subset}")
    conv = getattr(args, "network", "mlp") != "mlp"
    if args.grad is None:
        args.grad = "backprop" if conv else DEFAULT_GRAD
    if args.dtype is None:
        args.dtype = "float32" if conv and args.grad != "check" else "float64"
    if args.grad == "check" and args.dtype != "float64":
        parser.error("argument --grad: check compares gradients in float64; use it with --dtype float64")
    _check_out(parser, args.out, args.resume is not None)
    if args.epochs is None and args.iters is None:
        args.iters = DEFAULT_ITERS
    if args.lr is None and args.optimizer == "sgd":
        args.lr = DEFAULT_SGD_LR
    return args


def build_network(args: argparse.Namespace, input_size: int, output_size: int):
    """TwoLayerNet for one hidden layer, MultiLayerNet for more, or --network's conv net; seeded by --seed."""
    from scratchnet.network import MultiLayerNet, TwoLayerNet

    # A stream of its own, independent of the trainer's default_rng(seed) batch stream.
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(1)[0])
    dtype = np.dtype(args.dtype).type
    network = getattr(args, "network", "mlp")
    if network != "mlp":
        from scratchnet import DeepConvNet, SimpleConvNet

        side = math.isqrt(input_size)
        make = SimpleConvNet if network == "simpleconvnet" else DeepConvNet
        return make(input_dim=(1, side, side), output_size=output_size, seed=rng, dtype=dtype)
    init = {} if args.weight_init is None else {"weight_init_std": args.weight_init}
    if len(args.hidden) == 1:
        return TwoLayerNet(input_size, args.hidden[0], output_size, activation=args.activation,
                           seed=rng, dtype=dtype, **init)
    if args.weight_init is None:
        init = {"weight_init_std": "he" if args.activation == "relu" else "xavier"}
    return MultiLayerNet(input_size, args.hidden, output_size, activation=args.activation,
                         seed=rng, dtype=dtype, **init)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    from dataset.mnist import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist(
        normalize=True, flatten=True, one_hot_label=False, name=args.dataset, data_dir=args.data_dir,
        progress=args.progress,
    )
    output_size = int(t_train.max()) + 1
    net = build_network(args, x_train.shape[1], output_size)
    if getattr(args, "network", "mlp") != "mlp":  # the conv nets take images, (N, 1, 28, 28)
        side = math.isqrt(x_train.shape[1])
        x_train, x_test = (x.reshape(-1, 1, side, side) for x in (x_train, x_test))
    trainer = Trainer(
        net, x_train, t_train, x_test, t_test,
        optimizer=args.optimizer,
        optimizer_params={} if args.lr is None else {"lr": args.lr},
        epochs=args.epochs, iters=args.iters, batch_size=args.batch_size, sampling=args.sampling,
        grad=args.grad, check_every=args.check_every, eval_subset=args.eval_subset,
        seed=args.seed, run_dir=args.out, progress=args.progress, plot=args.plot,
        config={"script": vars(args)},
    )
    if args.resume is not None:
        try:
            step = trainer.load_checkpoint(args.resume)
        except (ValueError, TypeError) as e:  # a checkpoint that does not fit this run
            print(f"train.py: error: argument --resume: cannot resume from {args.resume}: {e}",
                  file=sys.stderr)
            return 2
        print(f"resuming {args.resume} at step {step} of {trainer.total_steps}", file=sys.stderr)
    # Numerical gradients run BLAS at one thread (fastgrad's products are small); holding the whole
    # run there spares a sleeping second BLAS thread's wake-up at every step (docs/numerical-gradient.md).
    try:
        with blas_threads(1 if args.grad in ("numerical", "check") else None):
            result = trainer.fit()
    except (TrainingDiverged, GradientCheckError) as e:
        print(f"train.py: {e}", file=sys.stderr)
        print(f"logs and the last good checkpoint are in {trainer.run_dir}", file=sys.stderr)
        return 1

    print(f"network:        {net!r}")
    print(f"optimizer:      {trainer.optimizer!r}, batch {args.batch_size}, grad {args.grad}")
    print(f"steps:          {result.step} ({result.epoch:.2f} epochs)")
    print(f"train accuracy: {result.train_acc:.4f}")
    print(f"test accuracy:  {result.test_acc:.4f}")
    print(f"wall time:      {result.wall_time_s:.1f} s")
    print(f"run folder:     {result.run_dir}")
    if result.curves is not None:
        print(f"curves:         {result.curves}")
    elif not args.plot:
        print("curves:         not drawn (--no-plot)")
    else:
        print(f"curves:         not drawn: matplotlib is not installed ({PLOT_HINT})")
    if args.plot:
        print(text_plot(result.history, width=80))
    if result.status == "interrupted":
        print(f"interrupted: resume with  python scripts/train.py --resume {result.run_dir}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
