"""Benchmark: backprop training speed of scratchnet against plain NumPy and PyTorch, side by side.

    python scripts/bench_train.py                         # the full table (a few minutes)
    python scripts/bench_train.py --threads 1 --epochs 3  # fewer rows
    python scripts/bench_train.py --no-torch              # scratchnet alone
    python scripts/bench_train.py --synthetic 2000 --steps 5 --epochs 1 --no-torch   # a smoke run

Each row trains one MLP on MNIST, batch 100, for ``--epochs`` timed epochs of ``--steps`` steps
(600 = one pass over the 60 000 images) after one warm-up epoch, at one thread count, in turn:

- scratchnet as a user's loop runs it (what ``Trainer.fit`` does per step): gather the batch into
  reused arrays, ``net.loss_and_gradient(x, t)``, ``optimizer.update(net.params, grads)``;
- the book's call path on its own copy of the network: ``grads = net.gradient(x, t)``, then
  ``optimizer.update(net.params, grads)``;
- a plain NumPy script: the same maths written straight (``x @ W1 + b1``, the activation, the
  log-sum-exp loss, the backward products, the update), from the same initial weights on the
  same batches;
- ``Trainer.fit`` itself, on its own copy of the network (its evaluation at the end of the epoch
  uses 10 + 10 samples and falls outside the timed steps);
- PyTorch, the same MLP from the same initial weights on the same index sequence:
  ``zero_grad``, forward, ``cross_entropy``, ``backward``, ``step``, ``loss.item()``;
- the GEMM floor: only the matrix products one epoch of this MLP needs (x @ W1, h @ W2, h.T @ d,
  d @ W2.T, x.T @ dh, with preallocated outputs), the least any NumPy implementation can spend;
- the gather: only the epoch's batch gathers (``np.take`` of 100 random rows into reused arrays),
  which every side pays too. ``floor/plain`` is (GEMM floor + gather) over the plain script: what
  is left of 1.00 is all that any library could save on the plain script.

The sides alternate epoch by epoch (in an order that rotates), so a change in the machine's load
hits all of them; every time is the median of the timed epochs and every ratio the median of the
epoch-by-epoch ratios (on a busy machine, many short epochs, ``--epochs 30 --steps 100``, give the
steadiest ratios). Thread counts are set with threadpoolctl for NumPy's
BLAS and ``torch.set_num_threads`` for PyTorch, the same on both sides. After the run each side's
test accuracy is printed, so that speed never hides a wrong result.

PyTorch is optional: ``pip install torch==2.13.0`` (a CPU build on these machines) in your own
environment; it is not a dependency of scratchnet. Without it the torch columns read "-".
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from scratchnet.network import TwoLayerNet
from scratchnet.optimizers import get_optimizer
from scratchnet.trainer import Trainer
from scratchnet.util import blas_threads, format_table

TORCH_HINT = "pip install torch==2.13.0"


@dataclass(frozen=True)
class Model:
    """One benchmarked configuration: a 784-H-10 MLP, its optimiser and the dtype."""

    hidden: int
    activation: str
    optimizer: str
    lr: float
    dtype: str = "float32"

    @property
    def name(self) -> str:
        return f"784-{self.hidden}-10 {self.activation} {self.optimizer}"


MODELS = [
    Model(50, "sigmoid", "sgd", 0.1),
    Model(50, "relu", "sgd", 0.1),
    Model(100, "relu", "adam", 0.001),
    Model(50, "sigmoid", "sgd", 0.1, dtype="float64"),
]


def machine_facts(torch) -> list[str]:
    """The facts that change the figures: CPU, BLAS and its kernel, thread counts, variables, load."""
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    blas = [
        f"{i['internal_api']} {i.get('version') or '?'} (kernel {i.get('architecture') or '?'}, "
        f"{i.get('threading_layer') or '?'} threading, {i['num_threads']} threads by default)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    variables = ", ".join(f"{v}={os.environ.get(v, 'unset')}"
                          for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"))
    lines = [
        f"machine: {cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}, NumPy {np.__version__}",
        f"NumPy BLAS: {', '.join(blas) or 'none found'}",
        f"environment: {variables}",
    ]
    if torch is not None:
        config = torch.__config__.show()
        backend = "MKL" if "USE_MKL=ON" in config or "MKL" in config else "its own BLAS"
        lines.append(f"PyTorch {torch.__version__} ({backend}, {torch.get_num_threads()} threads by default)")
    else:
        lines.append(f"PyTorch: not installed ({TORCH_HINT} to compare)")
    return lines


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def load_data(synthetic: int | None, seed: int):
    """MNIST as float32 images (N, 784) and uint8 labels, or random data of that shape."""
    if synthetic is None:
        from dataset.mnist import load_mnist

        return load_mnist(normalize=True, flatten=True, one_hot_label=False)
    rng = np.random.default_rng(seed)
    n_test = max(synthetic // 5, 10)
    x = rng.random((synthetic + n_test, 784), dtype=np.float32)
    t = rng.integers(0, 10, synthetic + n_test).astype(np.uint8)
    return (x[:synthetic], t[:synthetic]), (x[synthetic:], t[synthetic:])


# -------------------------------------------------------------------------------------- the sides
class ScratchLoop:
    """scratchnet's training step as a user's loop (or Trainer.fit) runs it."""

    def __init__(self, model: Model, seed: int, x_train, t_train, batch_size: int) -> None:
        init = "sigmoid" if model.activation == "sigmoid" else "relu"
        self.net = TwoLayerNet(784, model.hidden, 10, weight_init_std=init, activation=model.activation,
                               seed=seed, dtype=model.dtype)
        self.optimizer = get_optimizer(model.optimizer, lr=model.lr)
        self.x_train, self.t_train = x_train, t_train
        self.xb = np.empty((batch_size, x_train.shape[1]), dtype=x_train.dtype)
        self.tb = np.empty(batch_size, dtype=t_train.dtype)

    def epoch(self, indices: np.ndarray) -> float:
        net, optimizer, xb, tb = self.net, self.optimizer, self.xb, self.tb
        start = time.perf_counter()
        for idx in indices:
            np.take(self.x_train, idx, axis=0, out=xb, mode="clip")
            np.take(self.t_train, idx, axis=0, out=tb, mode="clip")
            loss, grads = net.loss_and_gradient(xb, tb)
            if not np.isfinite(loss):
                raise FloatingPointError(f"scratchnet: the loss became {loss}")
            optimizer.update(net.params, grads)
        return time.perf_counter() - start

    def accuracy(self, x, t) -> float:
        return self.net.accuracy(x, t)


class ScratchTrainer:
    """``Trainer.fit`` for one epoch at a time, on its own network, timed from its first to last step."""

    def __init__(self, model: Model, seed: int, data, batch_size: int) -> None:
        self.loop = ScratchLoop(model, seed, data[0][0], data[0][1], batch_size)
        self.model, self.data, self.batch_size, self.seed = model, data, batch_size, seed

    def epoch(self, indices: np.ndarray) -> float:
        (x_train, t_train), (x_test, t_test) = self.data
        stamps: list[float] = []
        self.seed += 1
        trainer = Trainer(self.loop.net, x_train, t_train, x_test, t_test, optimizer=self.loop.optimizer,
                          iters=len(indices), batch_size=self.batch_size, seed=self.seed, eval_subset=10,
                          save=False, progress=False,
                          callback=lambda step, loss: stamps.append(time.perf_counter()))
        trainer.fit()
        # From the end of the first step to the end of the last: steps - 1 steps, scaled to an epoch.
        return (stamps[-1] - stamps[0]) * len(indices) / max(len(indices) - 1, 1)

    def accuracy(self, x, t) -> float:
        return self.loop.accuracy(x, t)


class ScratchBook(ScratchLoop):
    """The book's call path: ``grads = net.gradient(x, t)``, then ``optimizer.update(net.params, grads)``."""

    def epoch(self, indices: np.ndarray) -> float:
        net, optimizer, xb, tb = self.net, self.optimizer, self.xb, self.tb
        start = time.perf_counter()
        for idx in indices:
            np.take(self.x_train, idx, axis=0, out=xb, mode="clip")
            np.take(self.t_train, idx, axis=0, out=tb, mode="clip")
            grads = net.gradient(xb, tb)
            optimizer.update(net.params, grads)
        return time.perf_counter() - start


class PlainLoop:
    """The same maths written straight in NumPy, as a hand-written script would: no layers, no buffers.

    Same initial weights (copied from scratchnet's network) and same batches. The loss is the
    log-sum-exp cross-entropy, computed every step as the other sides do.
    """

    def __init__(self, model: Model, like: TwoLayerNet, x_train, t_train) -> None:
        self.model, self.dtype = model, np.dtype(model.dtype)
        self.params = {k: p.copy() for k, p in like.params.items()}
        self.x_train, self.t_train = x_train, t_train.astype(np.intp)
        self.m = {k: np.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: np.zeros_like(p) for k, p in self.params.items()}
        self.t = 0

    def epoch(self, indices: np.ndarray) -> float:
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        sigmoid, sgd, lr = self.model.activation == "sigmoid", self.model.optimizer == "sgd", self.model.lr
        rows = np.arange(indices.shape[1])
        start = time.perf_counter()
        with np.errstate(over="ignore"):  # exp(-a) overflows to inf for very negative a: sigmoid 0
            for idx in indices:
                x = self.x_train[idx].astype(self.dtype, copy=False)
                t = self.t_train[idx]
                n = x.shape[0]
                a1 = x @ W1 + b1
                z1 = 1 / (1 + np.exp(-a1)) if sigmoid else np.maximum(a1, 0)
                a2 = z1 @ W2 + b2
                a2 = a2 - a2.max(axis=1, keepdims=True)
                e = np.exp(a2)
                s = e.sum(axis=1, keepdims=True)
                loss = np.mean(np.log(s[:, 0]) - a2[rows, t])
                if not np.isfinite(loss):
                    raise FloatingPointError(f"plain: the loss became {loss}")
                dy = e / s
                dy[rows, t] -= 1
                dy /= n
                dz1 = dy @ W2.T
                da1 = dz1 * z1 * (1 - z1) if sigmoid else dz1 * (a1 > 0)
                grads = {"W1": x.T @ da1, "b1": da1.sum(axis=0), "W2": z1.T @ dy, "b2": dy.sum(axis=0)}
                if sgd:
                    for k, g in grads.items():
                        self.params[k] -= lr * g
                else:
                    self._adam(grads)
        return time.perf_counter() - start

    def _adam(self, grads: dict) -> None:
        """The textbook's Adam (eps 1e-7), as scratchnet and the torch side use it."""
        self.t += 1
        lr_t = self.model.lr * np.sqrt(1.0 - 0.999**self.t) / (1.0 - 0.9**self.t)
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m += (1 - 0.9) * (g - m)
            v += (1 - 0.999) * (g * g - v)
            self.params[k] -= lr_t * m / (np.sqrt(v) + 1e-7)

    def accuracy(self, x, t) -> float:
        p = self.params
        x = x.astype(self.dtype, copy=False)
        a1 = x @ p["W1"] + p["b1"]
        with np.errstate(over="ignore"):
            z1 = 1 / (1 + np.exp(-a1)) if self.model.activation == "sigmoid" else np.maximum(a1, 0)
        return float(np.mean(np.argmax(z1 @ p["W2"] + p["b2"], axis=1) == t))


class TorchLoop:
    """The same MLP in PyTorch, from the same initial weights, as its tutorials train it."""

    def __init__(self, torch, model: Model, like: TwoLayerNet, x_train, t_train) -> None:
        self.torch = torch
        dtype = torch.float64 if model.dtype == "float64" else torch.float32
        act = torch.nn.Sigmoid() if model.activation == "sigmoid" else torch.nn.ReLU()
        fc1, fc2 = torch.nn.Linear(784, model.hidden), torch.nn.Linear(model.hidden, 10)
        self.model = torch.nn.Sequential(fc1, act, fc2).to(dtype)
        with torch.no_grad():
            for fc, k in ((fc1, "1"), (fc2, "2")):
                fc.weight.copy_(torch.from_numpy(like.params["W" + k].T.copy()))
                fc.bias.copy_(torch.from_numpy(like.params["b" + k].copy()))
        if model.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=model.lr)
        else:  # the textbook's (and scratchnet's) eps
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=model.lr, eps=1e-7)
        self.dtype = dtype
        self.x_train = torch.from_numpy(x_train)
        self.t_train = torch.from_numpy(t_train.astype(np.int64))

    def epoch(self, indices: np.ndarray) -> float:
        torch, model, optimizer = self.torch, self.model, self.optimizer
        f = torch.nn.functional
        idx_all = torch.from_numpy(indices)
        start = time.perf_counter()
        for idx in idx_all:
            xb = self.x_train[idx].to(self.dtype)
            tb = self.t_train[idx]
            optimizer.zero_grad()
            loss = f.cross_entropy(model(xb), tb)
            loss.backward()
            optimizer.step()
            value = loss.item()
            if not np.isfinite(value):
                raise FloatingPointError(f"torch: the loss became {value}")
        return time.perf_counter() - start

    def accuracy(self, x, t) -> float:
        torch = self.torch
        with torch.no_grad():
            scores = self.model(torch.from_numpy(x).to(self.dtype))
        return float(np.mean(scores.argmax(dim=1).numpy() == t))


class GemmFloor:
    """Only the matrix products of one epoch of this MLP, into preallocated outputs."""

    def __init__(self, model: Model, x_train, batch_size: int) -> None:
        rng = np.random.default_rng(0)
        d, h, c, n = 784, model.hidden, 10, batch_size
        dt = np.dtype(model.dtype)
        self.x = x_train[:n].astype(dt)
        self.W1, self.W2 = rng.standard_normal((d, h)).astype(dt), rng.standard_normal((h, c)).astype(dt)
        self.a, self.dh = rng.standard_normal((n, h)).astype(dt), np.empty((n, h), dt)
        self.y, self.dy = np.empty((n, c), dt), rng.standard_normal((n, c)).astype(dt)
        self.dW1, self.dW2 = np.empty((d, h), dt), np.empty((h, c), dt)

    def epoch(self, indices: np.ndarray) -> float:
        x, W1, W2, a, dh, y, dy, dW1, dW2 = (self.x, self.W1, self.W2, self.a, self.dh, self.y, self.dy,
                                              self.dW1, self.dW2)
        start = time.perf_counter()
        for _ in range(len(indices)):
            np.dot(x, W1, out=a)
            np.dot(a, W2, out=y)
            np.dot(a.T, dy, out=dW2)
            np.dot(dy, W2.T, out=dh)
            np.dot(x.T, dh, out=dW1)
        return time.perf_counter() - start


class GatherOnly:
    """Only the batch gathers of one epoch (ScratchLoop's np.take into reused arrays): the other part,
    besides the GEMM floor, that every side pays and no library can shrink."""

    def __init__(self, x_train, t_train, batch_size: int) -> None:
        self.x_train, self.t_train = x_train, t_train
        self.xb = np.empty((batch_size, x_train.shape[1]), dtype=x_train.dtype)
        self.tb = np.empty(batch_size, dtype=t_train.dtype)

    def epoch(self, indices: np.ndarray) -> float:
        xb, tb = self.xb, self.tb
        start = time.perf_counter()
        for idx in indices:
            np.take(self.x_train, idx, axis=0, out=xb, mode="clip")
            np.take(self.t_train, idx, axis=0, out=tb, mode="clip")
        return time.perf_counter() - start


# ------------------------------------------------------------------------------------------ the run
def run_row(model: Model, threads: int, data, args, torch) -> dict:
    """Train every side of one row, alternating epoch by epoch; return medians and accuracies."""
    (x_train, t_train), (x_test, t_test) = data
    rng = np.random.default_rng(args.seed)
    schedule = rng.integers(0, len(x_train), size=(args.epochs + 1, args.steps, args.batch_size))
    sides = {"loop": ScratchLoop(model, args.seed, x_train, t_train, args.batch_size),
             "book": ScratchBook(model, args.seed, x_train, t_train, args.batch_size),
             "trainer": ScratchTrainer(model, args.seed, data, args.batch_size)}
    sides["plain"] = PlainLoop(model, sides["loop"].net, x_train, t_train)
    if torch is not None:
        torch.manual_seed(args.seed)
        sides["torch"] = TorchLoop(torch, model, sides["loop"].net, x_train, t_train)
    sides["gemm"] = GemmFloor(model, x_train, args.batch_size)
    sides["gather"] = GatherOnly(x_train, t_train, args.batch_size)
    times: dict[str, list[float]] = {k: [] for k in sides}
    with blas_threads(threads, required=True):
        if torch is not None:
            torch.set_num_threads(threads)
        keys = list(sides)
        for e, indices in enumerate(schedule):
            # The sides take turns in an order that rotates every epoch, so that none always runs
            # right after the same other side (after PyTorch's threads, say).
            for key in keys[e % len(keys):] + keys[:e % len(keys)]:
                side = sides[key]
                # Idle BLAS and OpenMP workers spin for a moment after their last call: let them
                # stop before the next side starts, so that they do not slow it.
                time.sleep(args.pause)
                seconds = side.epoch(indices)
                if e > 0:  # epoch 0 warms up caches, allocations and thread pools
                    times[key].append(seconds)
            done = ", ".join(f"{k} {times[k][-1]:.3f} s" for k in times) if e > 0 else "warm-up"
            print(f"  [{model.name} {model.dtype}, {threads} thread(s)] epoch {e}: {done}",
                  file=sys.stderr, flush=True)
        acc = {k: sides[k].accuracy(x_test, t_test) for k in ("loop", "book", "plain", "torch") if k in sides}
    times["floor"] = [g + b for g, b in zip(times["gemm"], times["gather"], strict=True)]
    # Ratios are the medians of the epoch-by-epoch ratios: both sides of one ratio ran in the same
    # rotation, moments apart, so a change in the machine's load between epochs cancels out.
    pairs = [("loop", "plain"), ("book", "plain"), ("loop", "torch"), ("book", "torch"), ("trainer", "loop"),
             ("floor", "plain")]
    ratio = {(a, b): statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))
             for a, b in pairs if a in times and b in times}
    return {"median": {k: statistics.median(v) for k, v in times.items()}, "ratio": ratio, "accuracy": acc}


def _seconds(x: float) -> str:
    return f"{x:.3f}" if x >= 0.01 else f"{x:.2g}"  # a smoke run's milliseconds stay visible


def _ratio(r: dict, a: str, b: str) -> str:
    return "-" if (a, b) not in r["ratio"] else f"{r['ratio'][a, b]:.2f}"


def format_row(model: Model, threads: int, r: dict) -> list[str]:
    med, acc = r["median"], r["accuracy"]
    ours, book, plain, torch_s = med["loop"], med["book"], med["plain"], med.get("torch")
    return [
        model.name, model.dtype, str(threads),
        _seconds(ours), _seconds(book), _seconds(med["trainer"]), _seconds(plain),
        "-" if torch_s is None else _seconds(torch_s),
        _ratio(r, "loop", "plain"), _ratio(r, "book", "plain"), _ratio(r, "loop", "torch"),
        _ratio(r, "book", "torch"), _ratio(r, "trainer", "loop"), _seconds(med["gemm"]),
        f"{acc['loop']:.4f}", f"{acc['plain']:.4f}",
        "-" if "torch" not in acc else f"{acc['torch']:.4f}",
        _seconds(med["gather"]), _ratio(r, "floor", "plain"),
    ]


HEADER = ["model", "dtype", "threads", "loss_and_gradient", "gradient", "Trainer.fit", "plain", "torch",
          "ours/plain", "book/plain", "ours/torch", "book/torch", "fit/ours", "GEMM floor",
          "acc ours", "acc plain", "acc torch", "gather", "floor/plain"]


def parse_args(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace, list[Model]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per row, after a warm-up epoch")
    parser.add_argument("--steps", type=int, default=600, help="steps per epoch (600 = 60 000 images)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", default="all",
                        help="comma-separated row numbers 1-4 of: " + "; ".join(
                            f"{i} {m.name} {m.dtype}" for i, m in enumerate(MODELS, 1)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds of rest before each side's epoch")
    parser.add_argument("--no-torch", action="store_true", help="measure scratchnet alone")
    parser.add_argument("--synthetic", type=int, metavar="N",
                        help="random data of N training images instead of MNIST (for a smoke run)")
    args = parser.parse_args(argv)
    for name in ("epochs", "steps", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected at least 1, got {getattr(args, name)}")
    if any(n < 1 for n in args.threads):
        parser.error(f"--threads: expected positive counts, got {args.threads}")
    if args.pause < 0:
        parser.error(f"--pause: expected a number >= 0, got {args.pause}")
    try:
        rows = range(1, len(MODELS) + 1) if args.models == "all" else [int(s) for s in args.models.split(",")]
    except ValueError:
        rows = [0]
    if not all(1 <= i <= len(MODELS) for i in rows):
        parser.error(f"--models: expected 'all' or numbers 1-{len(MODELS)} separated by commas, "
                     f"got {args.models!r}")
    return parser, args, [MODELS[i - 1] for i in rows]


def main(argv: list[str] | None = None) -> int:
    parser, args, models = parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print(f"PyTorch is not installed: measuring scratchnet alone ({TORCH_HINT} to compare)",
                  file=sys.stderr)
    data = load_data(args.synthetic, args.seed)
    if args.batch_size > len(data[0][0]):
        parser.error(f"--batch-size: expected at most the {len(data[0][0])} training images")

    load_before = load_average()
    results = []
    for threads in args.threads:
        for model in models:
            results.append((model, threads, run_row(model, threads, data, args, torch)))
    load_after = load_average()

    print("scratchnet against plain NumPy and PyTorch: backprop training on the CPU, seconds per epoch "
          f"({args.steps} steps of batch {args.batch_size}), median of {args.epochs} epochs")
    given = sys.argv[1:] if argv is None else argv
    print("command: " + shlex.join(["python", "scripts/bench_train.py", *given]))
    for line in machine_facts(torch):
        print(line)
    print(f"load average (1, 5, 15 min): {load_before} before, {load_after} after")
    print("data: " + ("random (--synthetic)" if args.synthetic else "MNIST") + "; seconds per epoch; "
          "ours = loss_and_gradient + update, book = gradient + update, plain = the same maths in plain "
          "NumPy, fit/ours = Trainer.fit over the bare loop")
    print()
    for line in format_table([HEADER, *(format_row(m, th, r) for m, th, r in results)]):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
