"""Checkpoint files: one ``.npz`` of named arrays plus its metadata as a JSON string, never pickled.

Layout: ``meta`` (JSON: format, step, RNG states, evaluations, configuration) and arrays grouped by
a prefix (``params.W1``, ``optimizer.m.W1``, ``history.loss``, ...). A readable copy of ``meta`` goes
to ``checkpoint.json`` beside it; only the ``.npz`` is read back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .runlog import json_default, write_json
from .util import atomic_write, read_npz

__all__ = [
    "CHECKPOINT_FORMAT", "write_checkpoint", "read_checkpoint", "read_checkpoint_meta", "group",
    "save_trainer", "load_into_trainer", "network_generators",
]

CHECKPOINT_FORMAT = 1


def write_checkpoint(run_dir: Path, meta: Mapping[str, Any],
                     groups: Mapping[str, Mapping[str, Any]]) -> None:
    """Write ``run_dir/checkpoint.npz`` (arrays named ``<group>.<key>``) and ``checkpoint.json``."""
    meta = {"format": CHECKPOINT_FORMAT, **meta}
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta, default=json_default))}
    for prefix, entries in groups.items():
        for k, v in entries.items():
            arrays[f"{prefix}.{k}"] = np.asarray(v)
    atomic_write(run_dir / "checkpoint.npz", lambda f: np.savez(f, **arrays), binary=True)
    write_json(run_dir / "checkpoint.json", meta)


def group(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays named ``<prefix>.<key>``, by key."""
    start = prefix + "."
    return {k[len(start):]: v for k, v in arrays.items() if k.startswith(start)}


def read_checkpoint(path: str | os.PathLike) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]]:
    """Read a run folder's (or a named) ``checkpoint.npz``: ``(file, meta, arrays)``.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        Naming the file, when it is not a scratchnet checkpoint (not an .npz, cut short, no
        ``meta``, another format).
    """
    path = Path(path)
    file = path if path.suffix == ".npz" else path / "checkpoint.npz"
    if not file.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {file}")
    not_ours = f"{file}: not a valid scratchnet checkpoint file"
    arrays = read_npz(file, "checkpoint")
    if "meta" not in arrays:
        raise ValueError(f"{not_ours} (no 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as e:
        raise ValueError(f"{not_ours} (its metadata is not JSON: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise ValueError(f"{file}: checkpoint format {got!r}, expected {CHECKPOINT_FORMAT}")
    _validate(file, meta, arrays)
    return file, meta, arrays


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _check_state(file: Path, name: str, state) -> None:
    """Refuse a generator state that NumPy would not take (assigning it to a scratch generator)."""
    try:
        if isinstance(state, dict) and "has_gauss" in state:  # NumPy's global generator's (legacy) state
            np.random.RandomState(0).set_state(state)
        else:
            np.random.default_rng(0).bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{file}: {name}: not a valid random generator state "
                         f"({type(e).__name__}: {e})") from None


def _validate(file: Path, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Check every field of a checkpoint before anything is restored from it."""
    bad = f"{file}: not a valid scratchnet checkpoint file"
    step = meta.get("step")
    if not _is_count(step):
        raise ValueError(f"{bad}: step: expected an integer >= 0, got {step!r}")
    elapsed = meta.get("elapsed_s")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not 0 <= elapsed < float("inf"):
        raise ValueError(f"{bad}: elapsed_s: expected a finite number >= 0, got {elapsed!r}")
    _check_state(file, "rng", meta.get("rng"))
    rngs = meta.get("network_rngs")
    if not isinstance(rngs, dict):
        raise ValueError(f"{bad}: network_rngs: expected a mapping, got {rngs!r}")
    for k, state in rngs.items():
        _check_state(file, f"network_rngs[{k!r}]", state)
    evals = meta.get("evals")
    keys = {"step", "epoch", "train_acc", "test_acc", "elapsed_s"}
    if not isinstance(evals, list) or not all(isinstance(e, dict) and keys <= e.keys() for e in evals):
        raise ValueError(f"{bad}: evals: expected a list of evaluations with {sorted(keys)}")
    if any(not _is_count(e["step"]) or e["step"] > step for e in evals):
        raise ValueError(f"{bad}: evals: an evaluation's step is not in [0, {step}]")
    config = meta.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("trainer"), dict):
        raise ValueError(f"{bad}: config: expected a mapping with a 'trainer' mapping")
    loss = arrays.get("history.loss")
    if loss is None or loss.ndim != 1 or loss.dtype.kind != "f" or loss.size != step:
        got = None if loss is None else f"{loss.dtype} {loss.shape}"
        raise ValueError(f"{bad}: history.loss: expected {step} float losses (one per step), got {got}")
    nonfinite = [k for k, a in arrays.items() if k.startswith(("params.", "optimizer."))
                 and a.dtype.kind == "f" and not np.isfinite(a).all()]
    if nonfinite:
        raise ValueError(f"{bad}: expected finite values, got NaN or inf in {nonfinite}")
    for name in ("sampler.perm", "eval.train_idx", "eval.test_idx"):
        if name in arrays and (arrays[name].ndim != 1 or arrays[name].dtype.kind not in "iu"):
            raise ValueError(f"{bad}: {name}: expected a 1-d integer array, got {arrays[name].dtype} "
                             f"{arrays[name].shape}")


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint: step, configuration, RNG state, evaluations.

    Parameters
    ----------
    path : path-like
        A run folder or its ``checkpoint.npz``.
    """
    return read_checkpoint(path)[1]


# -- a Trainer's run, saved and restored ---------------------------------------------------------

def save_trainer(tr, elapsed: float) -> None:
    """Checkpoint a :class:`scratchnet.trainer.Trainer` into its ``run_dir``.

    Saved: the network's ``state_dict()`` (parameters and buffers), the optimiser's, the states of
    the trainer's generator and of the network's ``generators()``, the step, the loss history, the
    evaluations, the sampler's permutation and the evaluation subset.
    """
    meta = {"step": tr.step, "elapsed_s": elapsed, "rng": tr.rng.bit_generator.state,
            "network_rngs": {k: g.bit_generator.state for k, g in network_generators(tr.network).items()},
            "evals": tr.evals, "config": tr.config}
    groups = {"params": tr.network.state_dict(), "optimizer": tr.optimizer.state_dict(),
              "history": {"loss": np.asarray(tr.losses, dtype=np.float64)}}
    if tr._perm is not None:
        groups["sampler"] = {"perm": tr._perm}
    if tr._train_eval_idx is not None:
        groups["eval"] = {"train_idx": tr._train_eval_idx, "test_idx": tr._test_eval_idx}
    write_checkpoint(tr.run_dir, meta, groups)


def network_generators(network) -> dict[str, np.random.Generator]:
    """The network's random generators (``network.generators()``), or none."""
    return network.generators() if hasattr(network, "generators") else {}


def _check_indices(file: Path, arrays: Mapping[str, np.ndarray], name: str, size: int, count: int | None,
                   permutation: bool = False) -> None:
    idx = arrays.get(name)
    if idx is None:
        if count is not None:
            raise ValueError(f"{file}: {name}: missing")
        return
    ok = idx.size == (size if permutation else count)
    ok = ok and (idx.size == 0 or 0 <= idx.min() <= idx.max() < size)
    if ok and permutation:
        ok = np.array_equal(np.sort(idx), np.arange(size))
    if not ok:
        what = f"a permutation of {size}" if permutation else f"{count} indices in [0, {size})"
        raise ValueError(f"{file}: {name}: expected {what}")


def _check_resumable(tr, file: Path, meta: Mapping[str, Any], arrays) -> dict[str, Any]:
    saved, here = meta["config"]["trainer"], tr.config["trainer"]
    keys = ("batch_size", "sampling", "train_size", "test_size", "eval_subset", "seed")
    missing = [k for k in keys if k not in saved]
    if missing:
        raise ValueError(f"{file}: not a valid scratchnet checkpoint file: config.trainer lacks {missing}")
    if saved["seed"] is not None and not _is_count(saved["seed"]):
        raise ValueError(f"{file}: config.trainer.seed: expected an integer >= 0 or null, "
                         f"got {saved['seed']!r}")
    _check_indices(file, arrays, "sampler.perm", tr.train_size, None, permutation=True)
    _check_indices(file, arrays, "eval.train_idx", tr.train_size, tr.eval_subset)
    _check_indices(file, arrays, "eval.test_idx", len(tr.x_test), tr.eval_subset)
    keys = keys[:-1]
    differ = [k for k in keys if saved[k] != here[k]]
    if differ:
        raise ValueError(f"{file}: saved with " + ", ".join(f"{k}={saved[k]!r}" for k in differ)
                         + "; this trainer has " + ", ".join(f"{k}={here[k]!r}" for k in differ))
    if meta["step"] > tr.total_steps:
        raise ValueError(f"{file}: the run is at step {meta['step']}, beyond this trainer's "
                         f"{tr.total_steps} steps; ask for more epochs or iters")
    gens = network_generators(tr.network)
    if sorted(gens) != sorted(meta["network_rngs"]):
        raise ValueError(f"{file}: saved generators of network layers {sorted(meta['network_rngs'])}, "
                         f"this network has them in layers {sorted(gens)}")
    return saved


def load_into_trainer(tr, path: str | os.PathLike) -> Path:
    """Restore what :func:`save_trainer` saved into ``tr``; the checkpoint file read."""
    file, meta, arrays = read_checkpoint(path)
    saved = _check_resumable(tr, file, meta, arrays)
    tr.network.load_state_dict(group(arrays, "params"))
    tr.optimizer.load_state_dict(group(arrays, "optimizer"))
    tr.config["trainer"]["optimizer"] = tr.optimizer.config()
    # Assigning a state checks the bit generator's name and fields.
    tr.rng.bit_generator.state = meta["rng"]
    for k, g in network_generators(tr.network).items():
        g.bit_generator.state = meta["network_rngs"][k]
    tr.step = int(meta["step"])
    tr.seed = tr.config["trainer"]["seed"] = saved["seed"]
    tr._elapsed_before = float(meta["elapsed_s"])
    tr.losses = [float(v) for v in arrays["history.loss"]]
    tr.evals = [dict(e) for e in meta["evals"]]
    tr._perm = arrays.get("sampler.perm")
    if tr.eval_subset is not None:
        tr._train_eval_idx, tr._test_eval_idx = arrays["eval.train_idx"], arrays["eval.test_idx"]
    return file
