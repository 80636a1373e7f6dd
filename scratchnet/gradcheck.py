"""Gradient checks: compare backpropagation with numerical differentiation (chapter 5).

Use them as assertions in your own tests::

    def test_my_layer():
        check_layer(MyLayer(...), x).assert_close()        # every gradient within rel error 1e-7

    def test_my_net():
        gradient_check(net, x_batch, t_batch).assert_close(rel_tol=1e-6)

Both return a :class:`GradCheckResult`: per checked array, the max and mean absolute difference and
the relative error, all float64. Printing it gives a table. Checks need float64 parameters: in
float32, rounding error in the loss is larger than the differences being measured.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from ._checks import as_float_array, check_float64_params
from .gradient import numerical_gradient
from .util import format_table

__all__ = ["rel_error", "GradCheckRow", "GradCheckResult", "gradient_check", "check_layer"]


def rel_error(a, b) -> float:
    """Relative error ||a - b|| / (||a|| + ||b||) of two arrays of one shape (0 when both are 0).

    Norms over the whole array rather than a maximum of elementwise ratios: an element whose true
    gradient is nearly 0 would otherwise turn a harmless 1e-11 rounding difference into a large
    "relative" error. Around 1e-7 or less (float64) means the two agree; a wrong formula gives
    1e-2 and more.

    Parameters
    ----------
    a, b : array_like, one shape

    Returns
    -------
    float, computed in float64
    """
    a = np.asarray(as_float_array("a", a), dtype=np.float64)
    b = np.asarray(as_float_array("b", b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a {a.shape}, got {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    if denom == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / denom)


@dataclass(frozen=True)
class GradCheckRow:
    """The comparison of one gradient array: backprop against numerical."""

    name: str
    shape: tuple[int, ...]
    max_abs_diff: float
    mean_abs_diff: float
    rel_error: float


def _row(name: str, analytic, numeric) -> GradCheckRow:
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"{name}: backprop gradient has shape {a.shape}, numerical {n.shape}")
    diff = np.abs(a - n)
    max_abs = float(diff.max()) if diff.size else 0.0
    mean_abs = float(diff.mean()) if diff.size else 0.0
    return GradCheckRow(name, a.shape, max_abs, mean_abs, rel_error(a, n))


class GradCheckResult(Mapping):
    """Rows of a gradient check, by array name (``result["W1"].mean_abs_diff``); prints as a table."""

    def __init__(self, title: str, rows: list[GradCheckRow]) -> None:
        self.title = title
        self.rows = {row.name: row for row in rows}

    def __getitem__(self, name: str) -> GradCheckRow:
        return self.rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over all rows."""
        return max((row.rel_error for row in self.rows.values()), default=0.0)

    def __str__(self) -> str:
        table = [("name", "shape", "max abs diff", "mean abs diff", "rel error")]
        for r in self.rows.values():
            numbers = (r.max_abs_diff, r.mean_abs_diff, r.rel_error)
            table.append((r.name, str(r.shape), *(f"{v:.3g}" for v in numbers)))
        return "\n".join([self.title, *format_table(table)])

    def __repr__(self) -> str:
        return f"<GradCheckResult: {self.title}: max rel error {self.max_rel_error:.3g}>"

    def assert_close(self, rel_tol: float = 1e-7, *, abs_tol: float = 0.0,
                     mean_abs_tol: float | None = None) -> None:
        """Raise AssertionError, with the whole table, unless every row is within tolerance.

        Parameters
        ----------
        rel_tol : float
            Largest acceptable relative error (NaN always fails).
        abs_tol : float
            A row whose max absolute difference is at most this passes whatever its relative
            error. For gradients that are exactly 0 in theory (a bias followed by batch norm) the
            numerical side is pure rounding noise, and a relative error of 0 against noise is 1.
        mean_abs_tol : float, optional
            Largest acceptable mean absolute difference, if given (checked in addition).
        """
        bad = [f"{r.name} (rel error {r.rel_error:.3g} > {rel_tol:g})"
               for r in self.rows.values() if not (r.rel_error <= rel_tol or r.max_abs_diff <= abs_tol)]
        if mean_abs_tol is not None:
            bad += [f"{r.name} (mean abs diff {r.mean_abs_diff:.3g} > {mean_abs_tol:g})"
                    for r in self.rows.values() if not r.mean_abs_diff <= mean_abs_tol]
        if bad:
            raise AssertionError(f"gradient check failed for {', '.join(bad)}\n{self}")


def gradient_check(net, x, t, *, h: float = 1e-4) -> GradCheckResult:
    """Compare a network's backprop gradients with its numerical ones, per parameter.

    Backprop comes first (``net.loss_and_gradient``, or ``net.gradient`` for a network of your own
    in the textbook's shape), then ``net.numerical_gradient(x, t)``: dropout layers keep the mask
    the backprop pass drew. Batch-norm running statistics are restored afterwards.

    Parameters
    ----------
    net : network
        With ``params`` (float64), ``numerical_gradient`` and ``loss_and_gradient`` or ``gradient``.
    x : array_like, shape (N, ...)
        Keep N small: the numerical gradient evaluates the loss twice per parameter.
    t : array_like
        Labels (N,) or one-hot (N, C).
    h : float
        The central-difference step of the numerical gradient (the textbook's 1e-4).

    Returns
    -------
    GradCheckResult
        One row per parameter, named as in ``net.params``.
    """
    if not isinstance(getattr(net, "params", None), Mapping):
        raise TypeError(f"net: expected a network with a params dict, got {type(net).__name__}")
    check_float64_params("net", net.params)
    saved = net.state_dict() if hasattr(net, "state_dict") else None
    try:
        if hasattr(net, "loss_and_gradient"):
            _, grads = net.loss_and_gradient(x, t)
        else:
            grads = net.gradient(x, t)
        backprop = {name: np.array(g, dtype=np.float64) for name, g in grads.items()}
        if "h" in inspect.signature(net.numerical_gradient).parameters:
            numeric = net.numerical_gradient(x, t, h=h)
        else:  # a textbook-style network: its own fixed step
            numeric = net.numerical_gradient(x, t)
    finally:
        if saved is not None:
            net.load_state_dict(saved)
    missing = [name for name in net.params if name not in backprop or name not in numeric]
    if missing:
        raise ValueError(f"net: no gradient returned for {missing}")
    rows = [_row(name, backprop[name], numeric[name]) for name in net.params]
    return GradCheckResult(f"gradient check of {net!r} (h={h:g})", rows)


def _layer_params(layer) -> list[tuple[str, np.ndarray, object]]:
    """(name, parameter, how to read its gradient) for a layer with ``params``/``grads`` dicts, or
    with the textbook's attributes (``W`` and ``dW``, ``b`` and ``db``, ``gamma`` and ``dgamma``, ...)."""
    params = getattr(layer, "params", None)
    if isinstance(params, Mapping):
        return [(k, p, lambda k=k: layer.grads[k]) for k, p in params.items()]

    def grad(k):
        if not hasattr(layer, "d" + k):
            raise ValueError(f"layer: backward set no d{k} for parameter {k}")
        return getattr(layer, "d" + k)

    names = [k for k in ("W", "b", "gamma", "beta") if isinstance(getattr(layer, k, None), np.ndarray)]
    return [(k, getattr(layer, k), lambda k=k: grad(k)) for k in names]


def _upstream(out, t, dout, seed: int):
    """The dout check_layer weights the output with: given, or seeded standard normal; 1.0 for a loss."""
    if t is not None:
        return 1.0 if dout is None else float(dout)
    out = np.asarray(out)
    dout = np.random.default_rng(seed).standard_normal(out.shape) if dout is None else dout
    dout = np.array(as_float_array("dout", dout), dtype=np.float64)
    if dout.shape != out.shape:
        raise ValueError(f"dout: expected the shape of forward's output {out.shape}, got {dout.shape}")
    return dout


def check_layer(layer, x, t=None, *, dout=None, h: float = 1e-5, seed: int = 0,
                forward_kwargs: dict | None = None) -> GradCheckResult:
    """Check one layer's backward against numerical differentiation of its forward.

    The scalar differentiated is sum(forward(x) * dout) for a random (seeded) dout, so every output
    element counts with its own weight; for a loss layer (``t`` given) it is forward(x, t) * dout.
    ``x`` is copied (it is perturbed); the layer's parameters are perturbed in place and restored
    exactly; buffers (batch-norm running statistics) are restored too. A layer with a
    ``fixed_mask()`` context (Dropout) keeps one mask throughout.

    Parameters
    ----------
    layer : a layer with float64 parameters
        ``forward``/``backward``, and ``params``/``grads`` dicts or the textbook's ``W``/``dW``... attributes.
    x : array_like
        The input; choose it away from kinks (for ReLU: no element near 0).
    t : array_like, optional
        Labels or one-hot targets, for a loss layer (``forward(x, t)``).
    dout : array_like or float, optional
        The upstream gradient; by default standard normal (1.0 for a loss layer).
    h : float
        The central-difference step; 1e-5 balances truncation (h**2) and rounding (1e-16 / h).
    seed : int
        Seed of the random dout.
    forward_kwargs : dict, optional
        Extra keyword arguments for every forward call, e.g. ``{"train": False}``.

    Returns
    -------
    GradCheckResult
        A row ``x`` for the input, then one per parameter (``W``, ``b``, ...).
    """
    if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
        raise TypeError(f"layer: expected a layer with forward and backward, got {type(layer).__name__}")
    params = _layer_params(layer)
    check_float64_params("layer", {k: p for k, p, _ in params})
    x = np.array(as_float_array("x", x), dtype=np.float64)  # our own copy: it gets perturbed
    kwargs = dict(forward_kwargs or {})
    args = (x,) if t is None else (x, t)
    fixed_mask = getattr(layer, "fixed_mask", None)
    buffers = getattr(layer, "buffers", {})
    saved = {k: np.copy(b) for k, b in buffers.items()}
    with fixed_mask() if callable(fixed_mask) else contextlib.nullcontext():
        try:
            dout = _upstream(layer.forward(*args, **kwargs), t, dout, seed)
            analytic = {"x": np.array(layer.backward(dout), dtype=np.float64)}
            analytic.update((k, np.array(grad(), dtype=np.float64)) for k, _, grad in params)

            def f(_):
                return float(np.sum(layer.forward(*args, **kwargs) * dout))

            numeric = {"x": numerical_gradient(f, x, h)}
            numeric.update((k, numerical_gradient(f, p, h)) for k, p, _ in params)
        finally:
            for k, b in saved.items():
                buffers[k][...] = b
    rows = [_row(name, analytic[name], numeric[name]) for name in analytic]
    return GradCheckResult(f"gradient check of {layer!r} (h={h:g})", rows)
