"""Benchmark load_mnist: parsing the .gz files vs the first (cold) load vs later (warm) loads.

    python scripts/bench_load_mnist.py [--repeat 20] [--mnist-dir DIR]

Everything happens in a temporary cache folder; the four MNIST files are read from ``--mnist-dir``,
else ``$SCRATCHNET_MNIST_DIR``, else your own cache (run ``python -m dataset download`` once).
Columns, each the median of several runs, all measured in this run:

- parse .gz: what a loader without an array cache does every time (gunzip, parse, normalise);
- cold: the first ``load_mnist()`` into an empty cache (verify, parse, write the .npy cache);
- warm: ``load_mnist()`` again (memory-maps the cache);
- warm+pass: warm, then one pass over x_train (``x_train.max()``), so that the pages the memory map
  reads lazily are counted too;
- pass: the same pass over an array already in memory, for reference (warm+pass - pass is what the
  lazy reading costs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dataset import MNIST, cache_root, load_mnist
from dataset.idx import read_idx
from dataset.store import candidates

VARIANTS = [
    ("default (normalize, flatten)", {}),
    ("normalize=False", {"normalize": False}),
    ("flatten=False, one_hot_label=True", {"flatten": False, "one_hot_label": True}),
]


def _median_ms(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _parse_gz(source: Path, kwargs: dict) -> None:
    """The work without any array cache: read and parse the four files, then apply the options."""
    arrays = {}
    for f in MNIST.files:
        path = next(p for p in candidates(source, f) if p.exists())
        arrays[f.key] = read_idx(path, shape=f.shape)
    for key in ("x_train", "x_test"):
        x = arrays[key]
        if kwargs.get("normalize", True):
            x = np.divide(x, np.float32(255), dtype=np.float32)
        arrays[key] = x.reshape(len(x), -1) if kwargs.get("flatten", True) else x[:, None]
    if kwargs.get("one_hot_label", False):
        for key in ("t_train", "t_test"):
            arrays[key] = np.eye(10, dtype=np.float32)[arrays[key]]


def _find_source(arg: str | None) -> Path | None:
    for candidate in (arg, os.environ.get("SCRATCHNET_MNIST_DIR"), cache_root() / MNIST.name):
        if candidate and any(p.exists() for p in candidates(Path(candidate), MNIST.files[0])):
            return Path(candidate)
    return None


def _measure(source: Path, repeat: int, n_cold: int) -> list[tuple]:
    """One row per variant: (label, parse, cold, warm, warm+pass, pass), in milliseconds."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-mnist-") as tmp:
        for label, kwargs in VARIANTS:
            print(f"{label}: parsing .gz ...", file=sys.stderr)
            parse = _median_ms(lambda kw=kwargs: _parse_gz(source, kw), n_cold)
            print(f"{label}: cold loads ...", file=sys.stderr)
            colds = []
            for i in range(n_cold):
                root = Path(tmp) / f"{len(rows)}-{i}"
                colds.append(_median_ms(lambda r=root, kw=kwargs: load_mnist(data_dir=r, **kw), 1))
            cold = statistics.median(colds)
            print(f"{label}: warm loads ...", file=sys.stderr)
            warm = _median_ms(lambda r=root, kw=kwargs: load_mnist(data_dir=r, **kw), repeat)
            warm_pass = _median_ms(lambda r=root, kw=kwargs: load_mnist(data_dir=r, **kw)[0][0].max(), repeat)
            resident = np.array(load_mnist(data_dir=root, **kwargs)[0][0])
            one_pass = _median_ms(resident.max, repeat)
            rows.append((label, parse, cold, warm, warm_pass, one_pass))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="warm runs per variant (cold: a quarter)")
    parser.add_argument("--mnist-dir", help="folder with the four MNIST files")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat: expected a positive count, got {args.repeat}")
    source = _find_source(args.mnist_dir)
    if source is None:
        print(
            "no MNIST files found: pass --mnist-dir, set SCRATCHNET_MNIST_DIR, or run "
            "`python -m dataset download`",
            file=sys.stderr,
        )
        return 1
    n_cold = max(1, args.repeat // 4)
    # The loader reads its sources from the environment: only this folder, never the network.
    saved = {key: os.environ.get(key) for key in ("SCRATCHNET_MNIST_DIR", "SCRATCHNET_OFFLINE")}
    os.environ.update(SCRATCHNET_MNIST_DIR=str(source), SCRATCHNET_OFFLINE="1")
    try:
        rows = _measure(source, args.repeat, n_cold)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    print(
        f"load_mnist() on MNIST, median ms (cold runs: {n_cold}, warm runs: {args.repeat}); source {source}"
    )
    header = ("variant", "parse .gz", "cold", "warm", "warm+pass", "pass", "parse/warm", "parse/(warm+pass)")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for label, parse, cold, warm, warm_pass, one_pass in rows:
        cells = [f"{parse:.0f}", f"{cold:.0f}", f"{warm:.1f}", f"{warm_pass:.1f}", f"{one_pass:.1f}"]
        cells += [f"{parse / warm:.0f}x", f"{parse / warm_pass:.1f}x"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
