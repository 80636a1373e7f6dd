"""Benchmark: the fast numerical gradient against the textbook's loop, measured side by side.

    python scripts/bench_numerical_gradient.py              # the full comparison (about a minute)
    python scripts/bench_numerical_gradient.py --quick      # a smaller batch, for a smoke run
    python scripts/bench_numerical_gradient.py --train-steps 1000 --train-only
                                                            # N steps of python scripts/train.py

For TwoLayerNet(784, 50, 10, sigmoid) on a batch of real MNIST it times, at 1 and at 2 threads, one
numerical gradient by the textbook loop (``method="naive"``: 2 loss evaluations per parameter) and
by the fast path (``method="fast"``), and reports the speed-up and the largest difference on every
parameter, also against backprop. Then the same for a MultiLayerNet with two hidden layers.
Thread count means: BLAS threads for the loop, worker threads (with BLAS held to one) for the
fast path.

``--train-steps N`` also runs ``scripts/train.py`` itself with its defaults (chapter 4: TwoLayerNet
784-50-10 sigmoid, SGD 0.1, batch 100, ``--grad numerical``) for N steps, in this process, and prints
the steps' wall time, the median of its numerical-gradient calls and the time 10 000 steps would take.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import runpy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dataset.mnist import load_mnist
from scratchnet.gradient import numerical_gradient
from scratchnet.network import MultiLayerNet, Sequential, TwoLayerNet
from scratchnet.util import blas_libraries, blas_threads


def _blas_description() -> str:
    libs = [f"{i['internal_api']} {i.get('version') or ''} ({i.get('architecture') or '?'})"
            for i in blas_libraries()]
    return ", ".join(libs) or "none found"


def _time_once(f) -> tuple[float, object]:
    start = time.perf_counter()
    result = f()
    return time.perf_counter() - start, result


def _median_time(f, repeat: int) -> float:
    f()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _max_diffs(a: dict, b: dict) -> dict[str, float]:
    return {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}


def _row(cells, widths):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def book_style_loop(net, x, t) -> dict[str, np.ndarray]:
    """The textbook loop on a plain NumPy loss written as the book writes TwoLayerNet.loss.

    No input checks, no layer objects: the cheapest honest loss of a sigmoid two-layer net, so the
    loop's time is not inflated by scratchnet's own machinery.
    """
    params = {k: v.copy() for k, v in net.params.items()}
    rows = np.arange(x.shape[0])

    def loss(_):
        a1 = x @ params["W1"] + params["b1"]
        z1 = 1.0 / (1.0 + np.exp(-a1))
        a2 = z1 @ params["W2"] + params["b2"]
        e = np.exp(a2 - a2.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        return -np.sum(np.log(y[rows, t] + 1e-7)) / x.shape[0]

    return {k: numerical_gradient(loss, v) for k, v in params.items()}


def compare(label: str, net, x, t, thread_counts, repeat: int, book_style: bool = False) -> list[list[str]]:
    """Time the loop and the fast path at each thread count; print and return table rows."""
    rows = []
    backprop = net.gradient(x, t)
    for threads in thread_counts:
        print(f"[{label}] textbook loop, {threads} thread(s): {net_size(net)} parameters x 2 losses ...",
              file=sys.stderr, flush=True)
        with blas_threads(threads, required=True):
            naive_s, naive = _time_once(lambda: net.numerical_gradient(x, t, method="naive"))
            book_s = _time_once(lambda: book_style_loop(net, x, t))[0] if book_style else None
            fast_s = _median_time(lambda n=threads: net.numerical_gradient(x, t, method="fast", threads=n),
                                  repeat)
        fast = net.numerical_gradient(x, t, method="fast", threads=threads)
        vs_naive = max(_max_diffs(fast, naive).values())
        vs_backprop = max(_max_diffs(fast, backprop).values())
        book = f"{book_s:.2f} s ({book_s / fast_s:.0f}x)" if book_s is not None else "-"
        rows.append([label, threads, f"{naive_s:.2f} s", book, f"{fast_s * 1e3:.1f} ms",
                     f"{naive_s / fast_s:.0f}x", f"{vs_naive:.1e}", f"{vs_backprop:.1e}"])
        per_param = ", ".join(f"{k} {v:.1e}" for k, v in _max_diffs(fast, naive).items())
        print(f"[{label}] {threads} thread(s): loop {naive_s:.2f} s, fast {fast_s * 1e3:.1f} ms; "
              f"max |fast - loop| per parameter: {per_param}", file=sys.stderr, flush=True)
    return rows


def time_train_script(steps: int) -> list[str]:
    """Run scripts/train.py's default run for ``steps`` steps; time it and each numerical gradient."""
    times: list[float] = []
    real = Sequential.numerical_gradient

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        result = real(self, *args, **kwargs)
        times.append(time.perf_counter() - start)
        return result

    main = runpy.run_path(str(Path(__file__).resolve().parent / "train.py"), run_name="bench")["main"]
    print(f"[train.py] {steps} steps of the default run ...", file=sys.stderr, flush=True)
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(out):
        Sequential.numerical_gradient = timed
        try:
            start = time.perf_counter()
            status = main(["--iters", str(steps), "--out", str(Path(tmp) / "run"), "--no-progress",
                           "--no-plot"])
            total = time.perf_counter() - start
        finally:
            Sequential.numerical_gradient = real
    if status != 0 or len(times) != steps:
        raise RuntimeError(f"train.py: exit status {status}, {len(times)} gradients for {steps} steps")
    lines = (line.partition(":") for line in out.getvalue().splitlines())
    reported = {key.strip(): value.strip() for key, _, value in lines}
    wall = float(reported["wall time"].split()[0])
    median = statistics.median(times)
    return [str(steps), f"{wall:.1f} s", f"{total:.1f} s", f"{wall / steps * 1e3:.1f} ms",
            f"{median * 1e3:.2f} ms", f"{wall / steps * 10_000:.0f} s", reported["train accuracy"],
            reported["test accuracy"]]


def net_size(net) -> int:
    return sum(p.size for p in net.params.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=20, help="fast-path timings per median")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="batch 10, hidden 10, one thread count: a smoke run"
    )
    parser.add_argument("--no-multilayer", action="store_true", help="skip the two-hidden-layer comparison")
    parser.add_argument("--train-steps", type=int, default=0,
                        help="also time this many steps of python scripts/train.py's default run")
    parser.add_argument("--train-only", action="store_true", help="only the --train-steps timing")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size: expected at least 1, got {args.batch_size}")
    if args.train_steps < 0 or (args.train_only and args.train_steps < 1):
        parser.error(f"--train-steps: expected at least 1 (0 to skip), got {args.train_steps}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    machine = (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"BLAS {_blas_description()}, OPENBLAS_CORETYPE={coretype}, load average {load[0]:.2f}")
    if not args.train_only:
        _gradient_comparison(args, machine)
    if args.train_steps:
        row = time_train_script(args.train_steps)
        header = ["steps", "wall time (train.py)", "with loading", "per step", "median gradient",
                  "10 000 steps", "train accuracy", "test accuracy"]
        widths = [max(len(header[i]), len(row[i])) for i in range(len(header))]
        print("python scripts/train.py defaults (chapter 4, --grad numerical), the first steps")
        print(machine)
        for r in (header, ["-" * w for w in widths], row):
            print(_row(r, widths))
    return 0


def _gradient_comparison(args, machine: str) -> None:
    hidden = 50
    if args.quick:
        args.batch_size, args.threads, args.repeat, hidden = 10, args.threads[:1], 3, 10

    (x_train, t_train), _ = load_mnist(normalize=True, flatten=True, one_hot_label=False)
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(x_train.shape[0], args.batch_size, replace=False)
    x, t = x_train[idx].astype(np.float64), t_train[idx]

    rows = compare(
        f"TwoLayerNet 784-{hidden}-10 sigmoid",
        TwoLayerNet(784, hidden, 10, seed=args.seed),
        x,
        t,
        args.threads,
        args.repeat,
        book_style=True,
    )
    if not args.no_multilayer:
        deep = MultiLayerNet(784, [hidden, hidden], 10, seed=args.seed)
        rows += compare(
            f"MultiLayerNet 784-{hidden}-{hidden}-10 relu",
            deep,
            x,
            t,
            args.threads[:1],
            max(3, args.repeat // 4),
        )

    header = ["network", "threads", "loop on net.loss", "loop on a book-style loss", "fast", "speed-up",
              "max |fast-loop|", "max |fast-backprop|"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"numerical gradient, batch {args.batch_size} of MNIST, float64 parameters")
    print(machine)
    print(_row(header, widths))
    print(_row(["-" * w for w in widths], widths))
    for r in rows:
        print(_row(r, widths))


if __name__ == "__main__":
    sys.exit(main())
