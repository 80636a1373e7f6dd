"""Trained weights that ship with the project: ``weights/<name>.npz`` and ``weights/<name>.json``.

The book ships pickles (``sample_weight.pkl``, ``deep_convnet_params.pkl``); we ship ``.npz`` archives
read with ``allow_pickle=False`` and a JSON beside each recording how they were made: the command, the
seed, the commit of the code that trained them, the test accuracy. Both files are data, not authority:
:func:`load_weights` checks the JSON's fields, the archive's SHA-256 against the JSON's, and loads the
arrays strictly (every name and shape) into a freshly built network of the recorded architecture.

The folder is ``weights/`` at the top of the repository, or ``$SCRATCHNET_WEIGHTS``.

    python -m scratchnet_book.weights RUN_DIR NAME --command "..." --commit SHA   # ship a train.py run
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet_book.outputs import save, write_json

#: The repository's weights folder (this file is scripts/textbook/weights.py).
REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
#: Fields every weights JSON must have, with their types.
FIELDS = {"name": str, "network": str, "dtype": str, "command": str, "seed": int, "commit": str,
          "sha256": str, "test_accuracy": float, "test_images": int}


def _simple_convnet(seed, dtype):
    from scratchnet import SimpleConvNet

    return SimpleConvNet(seed=seed, dtype=dtype)


def _deep_convnet(seed, dtype):
    from scratchnet import DeepConvNet

    return DeepConvNet(seed=seed, dtype=dtype)


def _ch03_mlp(seed, dtype):
    from scratchnet import MultiLayerNet

    return MultiLayerNet(784, [50, 100], 10, activation="sigmoid", weight_init_std="sigmoid", seed=seed,
                         dtype=dtype)


#: name -> (build(seed, dtype), the dtype it trains in, how ``seed`` seeds the weights, input shape).
#: The conv nets are seeded as ``scripts/train.py --network ... --seed S`` seeds them (a stream spawned
#: from S, apart from the batch stream), so the initial weights here are those of the shipped run.
ARCHITECTURES: dict[str, tuple[Callable, type, str, tuple[int, ...]]] = {
    "ch03_mlp": (_ch03_mlp, np.float64, "int", (784,)),
    "ch07_simple_convnet": (_simple_convnet, np.float32, "spawn", (1, 28, 28)),
    "ch08_deep_convnet": (_deep_convnet, np.float32, "spawn", (1, 28, 28)),
}


def weights_dir() -> Path:
    """``$SCRATCHNET_WEIGHTS`` if set, else the repository's ``weights/`` folder."""
    return Path(os.environ.get("SCRATCHNET_WEIGHTS") or REPO_WEIGHTS)


def _architecture(name: str):
    if name not in ARCHITECTURES:
        raise ValueError(f"name: expected one of {sorted(ARCHITECTURES)}, got {name!r}")
    return ARCHITECTURES[name]


def make_network(name: str, seed: int, dtype=None):
    """The untrained network of ``name``, with the initial weights its training run drew from ``seed``."""
    build, default_dtype, seeding, _ = _architecture(name)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]) if seeding == "spawn" else seed
    return build(rng, np.dtype(dtype or default_dtype).type)


def input_shape(name: str) -> tuple[int, ...]:
    """The shape of one input image of ``name``'s network: (784,) or (1, 28, 28)."""
    return _architecture(name)[3]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_meta(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The JSON of ``name``, its fields checked (ValueError naming the file and the field)."""
    _architecture(name)
    path = (folder or weights_dir()) / f"{name}.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no shipped weights named {name!r} (set SCRATCHNET_WEIGHTS to "
                                "the folder of the .npz and .json files)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: expected JSON: {e}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    for field, kind in FIELDS.items():
        value = meta.get(field)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{path}: {field}: expected a {kind.__name__}, got {value!r}")
    if meta["name"] != name:
        raise ValueError(f"{path}: name: expected {name!r}, got {meta['name']!r}")
    if not 0.0 <= meta["test_accuracy"] <= 1.0:
        raise ValueError(f"{path}: test_accuracy: expected a number in [0, 1], got {meta['test_accuracy']}")
    if meta["dtype"] not in ("float32", "float64"):
        raise ValueError(f"{path}: dtype: expected 'float32' or 'float64', got {meta['dtype']!r}")
    return meta


def load_weights(name: str, dtype=None, folder: Path | None = None):
    """The shipped network ``name`` and its JSON: ``(net, meta)``.

    Parameters
    ----------
    name : str
        One of :data:`ARCHITECTURES` (``"ch07_simple_convnet"``, ...).
    dtype : float32 or float64, optional
        The network's dtype (default: the one it was trained in, ``meta["dtype"]``).

    Raises ValueError when the JSON lacks a field, names another network, or its SHA-256 differs
    from the archive's, and when an array is missing, unexpected or of the wrong shape.
    """
    folder = folder or weights_dir()
    meta = read_meta(name, folder)
    net = make_network(name, 0, dtype or meta["dtype"])
    arch = repr(make_network(name, 0, meta["dtype"]))
    if meta["network"] != arch:
        raise ValueError(f"{folder / (name + '.json')}: network: expected {arch!r}, got {meta['network']!r}")
    path = folder / f"{name}.npz"
    if sha256(path) != meta["sha256"]:
        raise ValueError(f"{path}: SHA-256 {sha256(path)} differs from the {meta['sha256']} its JSON records")
    net.load(path)  # allow_pickle=False; strict names and shapes
    return net, meta


def ship(net, name: str, meta: dict[str, Any], x_test: np.ndarray, t_test: np.ndarray,
         folder: Path | None = None) -> tuple[Path, Path]:
    """Write ``net``'s parameters as ``<name>.npz`` (compressed) and its JSON, atomically.

    ``meta`` gives the command, seed, commit and anything else worth recording; the test accuracy
    is measured here, on ``x_test``, from the archive as written (by :func:`load_weights`).
    """
    folder = Path(folder or weights_dir())
    state = net.state_dict()
    buf = io.BytesIO()
    np.savez_compressed(buf, **state)
    npz = save(folder / f"{name}.npz", lambda f: f.write(buf.getvalue()), binary=True)
    meta = {**meta, "name": name, "network": repr(net), "dtype": net.dtype.name, "sha256": sha256(npz),
            "test_accuracy": 0.0, "test_images": int(len(x_test)),
            "arrays": {k: list(v.shape) for k, v in state.items()}}
    meta_path = write_json(folder / f"{name}.json", meta)
    loaded, _ = load_weights(name, folder=folder)
    meta["test_accuracy"] = float(loaded.accuracy(x_test.reshape(-1, *input_shape(name)), t_test))
    write_json(meta_path, meta)
    return npz, meta_path


def main(argv: Sequence[str] | None = None) -> int:
    """Ship the parameters of a ``scripts/train.py`` run folder (its checkpoint.npz) as ``NAME``."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("run_dir", type=Path)
    p.add_argument("name", choices=sorted(ARCHITECTURES))
    p.add_argument("--command", required=True, help="the command that trained it")
    p.add_argument("--commit", required=True, help="git rev-parse HEAD of the code that trained it")
    p.add_argument("--note", action="append", default=[], metavar="KEY=VALUE", help="more to record")
    p.add_argument("--out", type=Path, default=None, help="weights folder (default: weights/)")
    args = p.parse_args(argv)
    from scratchnet.checkpoint import read_checkpoint_meta
    from scratchnet_book.training import load_mnist_arrays

    checkpoint = read_checkpoint_meta(args.run_dir)
    net = make_network(args.name, 0)
    with np.load(args.run_dir / "checkpoint.npz", allow_pickle=False) as archive:
        params = {k[len("params."):]: archive[k] for k in archive.files if k.startswith("params.")}
    net.load_state_dict(params, source=str(args.run_dir / "checkpoint.npz"))
    evals = checkpoint["evals"]
    trainer = checkpoint["config"]["trainer"]
    meta = {"command": args.command, "commit": args.commit, "seed": trainer["seed"],
            "steps": checkpoint["step"], "epochs": evals[-1]["epoch"],
            "train_wall_s": round(checkpoint["elapsed_s"], 1), "optimizer": trainer["optimizer"],
            "batch_size": trainer["batch_size"],
            "accuracy_per_epoch": [{k: e[k] for k in ("epoch", "train_acc", "test_acc")} for e in evals],
            **dict(n.split("=", 1) for n in args.note)}
    _, _, x_test, t_test = load_mnist_arrays()
    for path in ship(net, args.name, meta, x_test, t_test, args.out):
        print(f"{path}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
