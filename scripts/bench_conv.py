"""Benchmark: SimpleConvNet and DeepConvNet training steps, scratchnet against PyTorch and the book's way.

    python scripts/bench_conv.py                           # the full table
    python scripts/bench_conv.py --threads 1 --nets simple --rounds 3
    python scripts/bench_conv.py --no-torch --no-textbook  # scratchnet alone

For each network and thread count, these sides train from the same initial weights on the same
batches (MNIST, batch 100, Adam lr 0.001), interleaved round by round so that a change in the
machine's load hits all of them; each figure is the median ms/step over the rounds, and "best"
the fastest round (the one least disturbed by other work on a shared machine):

- ``gradient+update``: scratchnet as a user's loop runs it, ``net.gradient(x, t)`` then
  ``optimizer.update(net.params, grads)``, float32;
- ``Trainer.fit``: the same through scratchnet's Trainer, timed from its first step's end to its
  last's (its set-up and its evaluation on 10 samples fall outside), float32;
- ``torch``: PyTorch CPU on the same net (optional): zero_grad, forward, cross_entropy, backward,
  step, float32;
- ``textbook``: the book's way, written here: im2col with a Python loop over the filter offsets,
  col2im likewise, pooling through im2col and argmax, float64 as the book runs it.

Threads: threadpoolctl for NumPy's BLAS (required), ``torch.set_num_threads`` for PyTorch. After
the run each side's accuracy on 1000 test images is printed, so that speed never hides a wrong
result. s/epoch is ms/step * 600. docs/convolution.md has the measured table.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time

import numpy as np

from scratchnet import DeepConvNet, SimpleConvNet, Trainer, get_optimizer
from scratchnet.layers import Convolution, Dropout, Pooling
from scratchnet.util import blas_threads, format_table

BATCH = 100
LR = 0.001


# ---------------------------------------------------------------------------- the textbook side
def book_im2col(x, fh, fw, stride, pad):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow))
    for y in range(fh):
        for x_ in range(fw):
            col[:, :, y, x_, :, :] = img[:, :, y:y + stride * oh:stride, x_:x_ + stride * ow:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def book_col2im(col, shape, fh, fw, stride, pad):
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(fh):
        for x_ in range(fw):
            img[:, :, y:y + stride * oh:stride, x_:x_ + stride * ow:stride] += col[:, :, y, x_, :, :]
    return img[:, :, pad:h + pad, pad:w + pad]


class BookConv:
    def __init__(self, W, b, stride, pad):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x, train):
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh, ow = (h + 2 * self.pad - fh) // self.stride + 1, (w + 2 * self.pad - fw) // self.stride + 1
        self.x, self.col = x, book_im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        out = np.dot(self.col, self.col_W) + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(fn, c, fh, fw)
        return book_col2im(np.dot(dout, self.col_W.T), self.x.shape, fh, fw, self.stride, self.pad)


class BookPool:
    def forward(self, x, train):
        n, c, h, w = x.shape
        self.x = x
        col = book_im2col(x, 2, 2, 2, 0).reshape(-1, 4)
        self.arg_max = np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(n, h // 2, w // 2, c).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        dmax = np.zeros((dout.size, 4))
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.ravel()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return book_col2im(dcol, self.x.shape, 2, 2, 2, 0)


class BookRelu:
    def forward(self, x, train):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class BookAffine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x, train):
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        self.dW, self.db = np.dot(self.x.T, dout), np.sum(dout, axis=0)
        return np.dot(dout, self.W.T).reshape(self.shape)


class BookDropout:
    def __init__(self, rng):
        self.rng = rng

    def forward(self, x, train):
        if train:
            self.mask = self.rng.random(x.shape) > 0.5
            return x * self.mask
        return x * 0.5

    def backward(self, dout):
        return dout * self.mask


class BookNet:
    """The same layers as a scratchnet net, in float64, computed the textbook's way; Adam as the book's."""

    def __init__(self, net) -> None:
        self.layers, self.params = [], []
        rng = np.random.default_rng(0)
        for layer in net.layer_list[:-1]:
            if isinstance(layer, Convolution):
                book = BookConv(layer.W.astype(np.float64), layer.b.astype(np.float64), layer.stride,
                                layer.pad)
            elif isinstance(layer, Pooling):
                book = BookPool()
            elif isinstance(layer, Dropout):
                book = BookDropout(rng)
            elif "W" in layer.params:
                book = BookAffine(layer.W.astype(np.float64), layer.b.astype(np.float64))
            else:
                book = BookRelu()
            self.layers.append(book)
            if hasattr(book, "W"):
                self.params += [(book, "W"), (book, "b")]
        self.m = [np.zeros_like(getattr(o, k)) for o, k in self.params]
        self.v = [np.zeros_like(getattr(o, k)) for o, k in self.params]
        self.iter = 0

    def predict(self, x, train=False):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def step(self, x, t):
        y = self.predict(x.astype(np.float64), True)
        y = np.exp(y - y.max(axis=1, keepdims=True))
        y /= y.sum(axis=1, keepdims=True)
        dout = y.copy()
        dout[np.arange(len(t)), t] -= 1
        dout /= len(t)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        self.iter += 1
        lr_t = LR * np.sqrt(1.0 - 0.999 ** self.iter) / (1.0 - 0.9 ** self.iter)
        for i, (obj, key) in enumerate(self.params):
            g = getattr(obj, "d" + key)
            self.m[i] += (1 - 0.9) * (g - self.m[i])
            self.v[i] += (1 - 0.999) * (g ** 2 - self.v[i])
            getattr(obj, key)[...] -= lr_t * self.m[i] / (np.sqrt(self.v[i]) + 1e-7)

    def accuracy(self, x, t):
        return float(np.mean(np.argmax(self.predict(x.astype(np.float64)), axis=1) == t))


# ------------------------------------------------------------------------------------ the sides
def make_net(kind: str, dtype=np.float32):
    return (SimpleConvNet if kind == "simple" else DeepConvNet)(seed=0, dtype=dtype)


class ScratchLoop:
    name = "gradient+update"

    def __init__(self, kind, data):
        self.net, self.opt = make_net(kind), get_optimizer("adam", lr=LR)

    def steps(self, batches):
        for x, t in batches:
            self.opt.update(self.net.params, self.net.gradient(x, t))

    def accuracy(self, x, t):
        return self.net.accuracy(x, t)


class ScratchTrainer(ScratchLoop):
    name = "Trainer.fit"

    def __init__(self, kind, data):
        super().__init__(kind, data)
        self.data, self.seed = data, 0

    def steps(self, batches):
        (xtr, ttr), (xte, tte) = self.data
        self.seed += 1
        stamps: list[float] = []
        Trainer(self.net, xtr, ttr, xte, tte, optimizer=self.opt, iters=len(batches), batch_size=BATCH,
                seed=self.seed, eval_subset=10, save=False, progress=False,
                callback=lambda step, loss: stamps.append(time.perf_counter())).fit()
        # From the end of the first step to the end of the last: steps - 1 steps of pure training.
        return (stamps[-1] - stamps[0]) / max(len(batches) - 1, 1)


class Textbook:
    name = "textbook (float64)"

    def __init__(self, kind, data):
        self.net = BookNet(make_net(kind))

    def steps(self, batches):
        for x, t in batches:
            self.net.step(x, t)

    def accuracy(self, x, t):
        return self.net.accuracy(x, t)


class Torch:
    name = "torch"

    def __init__(self, kind, data, torch):
        import torch.nn as nn

        self.torch, like = torch, make_net(kind)
        mods = []
        for layer in like.layer_list[:-1]:
            if isinstance(layer, Convolution):
                fn, c, fh, fw = layer.W.shape
                m = nn.Conv2d(c, fn, (fh, fw), stride=layer.stride, padding=layer.pad)
                m.weight.data = torch.from_numpy(layer.W.copy())
                m.bias.data = torch.from_numpy(layer.b.copy())
            elif isinstance(layer, Pooling):
                m = nn.MaxPool2d(2, 2)
            elif isinstance(layer, Dropout):
                m = nn.Dropout(0.5)
            elif "W" in layer.params:
                if not any(isinstance(x, nn.Flatten) for x in mods):
                    mods.append(nn.Flatten())
                m = nn.Linear(*layer.W.shape)
                m.weight.data = torch.from_numpy(layer.W.T.copy())
                m.bias.data = torch.from_numpy(layer.b.copy())
            else:
                m = nn.ReLU()
            mods.append(m)
        self.model = nn.Sequential(*mods)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, eps=1e-7)

    def steps(self, batches):
        torch = self.torch
        self.model.train()
        for x, t in batches:
            self.opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.model(torch.from_numpy(x)), torch.from_numpy(t))
            loss.backward()
            self.opt.step()
            loss.item()

    def accuracy(self, x, t):
        self.model.eval()
        with self.torch.no_grad():
            return float((self.model(self.torch.from_numpy(x)).argmax(1).numpy() == t).mean())


# ------------------------------------------------------------------------------------------ run
def run(kind, threads, data, args, torch) -> dict:
    (xtr, ttr), (xte, tte) = data
    sides = [ScratchLoop(kind, data), ScratchTrainer(kind, data)]
    if torch is not None:
        sides.append(Torch(kind, data, torch))
    if not args.no_textbook:
        sides.append(Textbook(kind, data))
    steps = args.steps if kind == "simple" else max(args.steps // 4, 2)
    rng = np.random.default_rng(1)
    times: dict[str, list[float]] = {s.name: [] for s in sides}
    with blas_threads(threads, required=True):
        if torch is not None:
            torch.set_num_threads(threads)
        for r in range(args.rounds + 1):  # round 0 warms up
            idx = rng.integers(0, len(xtr), size=(steps, BATCH))
            batches = [(xtr[i], ttr[i].astype(np.int64)) for i in idx]
            for side in sides:
                start = time.perf_counter()
                per_step = side.steps(batches)  # a side may time its own steps (Trainer.fit)
                if per_step is None:
                    per_step = (time.perf_counter() - start) / steps
                if r:
                    times[side.name].append(per_step * 1e3)
        acc = {s.name: s.accuracy(xte[:1000], tte[:1000]) for s in sides}
    return {name: (statistics.median(ts), min(ts), acc[name]) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_conv.py", description=__doc__.split("\n")[0])
    p.add_argument("--nets", default="simple,deep", help="simple, deep or both (default simple,deep)")
    p.add_argument("--threads", default="1,2", help="BLAS thread counts (default 1,2)")
    p.add_argument("--steps", type=int, default=8, help="SimpleConvNet steps per side per round "
                   "(DeepConvNet: a quarter; default 8)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up (default 5)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-textbook", action="store_true")
    args = p.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch not installed (pip install torch==2.13.0): no torch column", file=sys.stderr)
    from dataset.mnist import load_mnist

    (xtr, ttr), (xte, tte) = load_mnist(flatten=False)
    data = ((xtr.astype(np.float32), ttr), (xte.astype(np.float32), tte))
    print("command: python scripts/bench_conv.py " + shlex.join(sys.argv[1:] if argv is None else argv))
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows = [("net", "threads", "side", "ms/step", "s/epoch", "vs torch", "textbook / this",
             "best ms/step", "best vs torch", "best textbook / this", "test acc")]
    for kind in args.nets.split(","):
        for threads in (int(n) for n in args.threads.split(",")):
            res = run(kind, threads, data, args, torch)
            base, base_best = res.get("torch", (None, None))[:2]
            book, book_best = res.get("textbook (float64)", (None, None))[:2]
            for name, (ms, best, acc) in res.items():
                rows.append((kind, str(threads), name, f"{ms:.1f}", f"{ms * 0.6:.1f}",
                             f"{ms / base:.2f}x" if base else "-",
                             f"{book / ms:.1f}x" if book and "textbook" not in name else "-",
                             f"{best:.1f}", f"{best / base_best:.2f}x" if base else "-",
                             f"{book_best / best:.1f}x" if book and "textbook" not in name else "-",
                             f"{acc:.3f}"))
            print("\n".join(format_table(rows[:1] + rows[-len(res):])), file=sys.stderr)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("\n".join(format_table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
