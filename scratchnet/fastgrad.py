"""Fast numerical gradient of a multilayer perceptron's loss, by finite differences (chapter 4, made fast).

The speed helper beside :mod:`scratchnet.gradient`, which calls it. It computes what the textbook's
``numerical_gradient`` loop computes, the central difference ``(L(w + h) - L(w - h)) / 2h`` of the
batch loss for every weight and bias, from loss values at perturbed points (never backprop), without
evaluating the whole network twice per element. It sees the network only as an :class:`MLPSpec`: a stack
of Affine layers (arrays) with elementwise ``sigmoid`` / ``relu`` / ``identity`` between them, ending in
softmax + cross-entropy (fused or the textbook's ``-log(y + 1e-7)``), with optional L2 weight decay.

Each layer first tries the step series (each sample's loss change as a power series in the step, cut
where its tail is below 1e-18, summed over the batch by matrix products); the per-input routes,
one (sample, input value) at a time, take what the series cannot.

How it works, and measured numbers: docs/numerical-gradient.md.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ._checks import as_float_array, check_labels, check_nonempty_batch, check_step
from .functions import log_softmax, relu, sigmoid
from .losses import CROSS_ENTROPY_DELTA
from .util import blas_threads

__all__ = ["MLPSpec", "mlp_numerical_gradient", "mlp_loss", "default_threads"]

_ACTIVATIONS = {"sigmoid": sigmoid, "relu": relu, "identity": lambda a: a}


def _activate_(name: str, a: np.ndarray) -> np.ndarray:
    """Apply activation ``name`` to ``a`` in place (a hot loop: no temporaries). Returns ``a``."""
    if name == "sigmoid":
        np.negative(a, out=a)
        with np.errstate(over="ignore"):  # exp(>709) = inf gives exactly 0, as it should
            np.exp(a, out=a)
        a += 1.0
        np.reciprocal(a, out=a)
    elif name == "relu":
        np.maximum(a, 0.0, out=a)
    return a


_LOSS_FORMS = ("fused", "textbook")

#: Elements of the widest temporary array one chunk may create (256 KiB of float64: cache-sized).
_CHUNK_ELEMENTS = 1 << 15

#: How far an activation's output can move when its input moves by e: at most L * e.
_LIPSCHITZ = {"sigmoid": 0.25, "relu": 1.0, "identity": 1.0}
#: Largest absolute error allowed in sum_c p_c expm1(dz_c) when it is summed as a power series
#: (the textbook loop's own rounding of one sample's loss is about 1e-16).
_SERIES_TOL = 1e-18
_SERIES_MAX_TERMS = 12


def _series_terms(z: float) -> int | None:
    """Fewest terms K of expm1's power series whose remainder is below ``_SERIES_TOL`` for |arg| <= z.

    The remainder after K terms is at most z**(K+1) / (K+1)! * exp(z). Returns None when more than
    ``_SERIES_MAX_TERMS`` would be needed (then expm1 itself is evaluated).
    """
    term = z  # z**k / k!, for k = 1
    for k in range(1, _SERIES_MAX_TERMS + 1):
        term *= z / (k + 1)  # now z**(k+1) / (k+1)!
        if term * math.exp(z) <= _SERIES_TOL:
            return k
    return None


@dataclass(frozen=True)
class MLPSpec:
    """A multilayer perceptron as plain arrays: the form the fast path works on.

    Parameters
    ----------
    weights : sequence of ndarray, shapes (D_0, D_1), (D_1, D_2), ..., (D_{L-1}, C)
    biases : sequence of ndarray, shapes (D_1,), ..., (C,)
    activations : sequence of str, length L - 1
        The elementwise activation after each Affine but the last: "sigmoid", "relu" or "identity".
    loss : str
        "fused" (log-sum-exp cross-entropy of the logits) or "textbook" (``-log(softmax + 1e-7)``).
    weight_decay : float
        lam of the L2 term 0.5 * lam * sum over layers of sum(W**2), added to the loss (not on biases).
    """

    weights: Sequence[np.ndarray]
    biases: Sequence[np.ndarray]
    activations: Sequence[str]
    loss: str = "fused"
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if len(self.weights) == 0 or len(self.weights) != len(self.biases):
            raise ValueError(
                "weights/biases: expected equal, non-zero counts, "
                f"got {len(self.weights)} and {len(self.biases)}"
            )
        if len(self.activations) != len(self.weights) - 1:
            raise ValueError(
                f"activations: expected {len(self.weights) - 1} (one between each pair of layers), "
                f"got {len(self.activations)}"
            )
        for name in self.activations:
            if name not in _ACTIVATIONS:
                raise ValueError(f"activations: expected one of {sorted(_ACTIVATIONS)}, got {name!r}")
        if self.loss not in _LOSS_FORMS:
            raise ValueError(f"loss: expected one of {_LOSS_FORMS}, got {self.loss!r}")
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            if W.ndim != 2 or b.shape != (W.shape[1],):
                raise ValueError(f"layer {k}: expected W (D, H) and b (H,), got {W.shape} and {b.shape}")
            if k and W.shape[0] != self.weights[k - 1].shape[1]:
                raise ValueError(
                    f"layer {k}: expected W with {self.weights[k - 1].shape[1]} rows, got {W.shape}"
                )


@dataclass
class _Forward:
    """The unperturbed forward pass, in float64: inputs of every Affine and its pre-activations."""

    inputs: list[np.ndarray]  # x_l, (N, D_l): what Affine l multiplies
    pre: list[np.ndarray]  # a_l = x_l W_l + b_l, (N, D_{l+1})
    p: np.ndarray  # softmax of the logits, (N, C)
    labels: np.ndarray  # (N,) intp
    last_T: np.ndarray  # the last W transposed, (C, D_{L-1}), C-contiguous
    _sigmoid: dict = field(default_factory=dict)

    def sigmoid_parts(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """u = exp(-a) and sigmoid(a) * u = u / (1 + u) for layer's pre-activation a, (N, J) each.

        a is clipped at -690 so that u stays finite; the sigmoid there is below 1e-299 either way.
        """
        if layer not in self._sigmoid:
            u = np.exp(-np.maximum(self.pre[layer], -690.0))
            self._sigmoid[layer] = (u, u / (1.0 + u))
        return self._sigmoid[layer]


def _forward(spec: MLPSpec, W64, b64, x: np.ndarray, labels: np.ndarray) -> _Forward:
    inputs, pre = [], []
    h = x
    for k, (W, b) in enumerate(zip(W64, b64)):
        inputs.append(h)
        a = h @ W + b
        pre.append(a)
        if k < len(W64) - 1:
            h = _ACTIVATIONS[spec.activations[k]](a)
    p = np.exp(log_softmax(pre[-1], axis=1))
    return _Forward(inputs, pre, p, labels, np.ascontiguousarray(W64[-1].T))


def _per_sample_loss(spec: MLPSpec, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    rows = np.arange(z.shape[0])
    if spec.loss == "fused":
        return -log_softmax(z, axis=1)[rows, labels]
    return -np.log(np.exp(log_softmax(z, axis=1))[rows, labels] + CROSS_ENTROPY_DELTA)


def mlp_loss(spec: MLPSpec, x, t) -> float:
    """The loss the fast path differentiates: mean cross-entropy plus weight decay, in float64.

    Parameters
    ----------
    spec : MLPSpec
    x : array_like, shape (N, D_0)
    t : array_like, labels (N,) or one-hot (N, C)
    """
    W64, b64, x64, labels = _prepare(spec, x, t)
    fw = _forward(spec, W64, b64, x64, labels)
    loss = float(np.sum(_per_sample_loss(spec, fw.pre[-1], labels)) / x64.shape[0])
    if spec.weight_decay:
        loss += 0.5 * spec.weight_decay * sum(float(np.sum(W * W)) for W in W64)
    return loss


def _prepare(spec: MLPSpec, x, t):
    x64 = as_float_array("x", x).astype(np.float64, copy=False)
    if x64.ndim > 2:  # images (N, 1, 28, 28): Affine flattens them
        x64 = x64.reshape(x64.shape[0], -1)
    if x64.ndim != 2 or x64.shape[1] != spec.weights[0].shape[0]:
        raise ValueError(f"x: expected (N, {spec.weights[0].shape[0]}), got {np.shape(x)}")
    check_nonempty_batch("x", x64)
    C = spec.weights[-1].shape[1]
    t = np.asarray(t)
    if t.shape == (x64.shape[0], C):
        if not (np.all((t == 0) | (t == 1)) and np.all(t.sum(axis=1) == 1)):
            raise ValueError(
                "t: the fast numerical gradient takes labels or exact one-hot rows, got soft targets"
            )
        labels = np.argmax(t, axis=1).astype(np.intp)
    elif t.shape == (x64.shape[0],):
        labels = check_labels("t", t, C)
    else:
        raise ValueError(
            f"t: expected labels of shape ({x64.shape[0]},) or one-hot ({x64.shape[0]}, {C}), got {t.shape}"
        )
    W64 = [np.asarray(W, dtype=np.float64) for W in spec.weights]
    b64 = [np.asarray(b, dtype=np.float64) for b in spec.biases]
    return W64, b64, x64, labels


# --- the loss difference ------------------------------------------------------------------------


def _loss_delta(
    spec: MLPSpec, dz: np.ndarray, p: np.ndarray, dz_target: np.ndarray, p_target: np.ndarray
) -> np.ndarray:
    """Per-experiment change of one sample's loss when its logits move by ``dz``.

    Parameters
    ----------
    dz : ndarray (M, C, J), overwritten
        The change of the logits, for M samples and J perturbations each (classes on axis 1).
    p : ndarray (M, C)
        The unperturbed softmax of each sample.
    dz_target : ndarray (M, J)
        ``dz`` at each sample's label (passed in because callers have it cheaper).
    p_target : ndarray (M,)
        ``p`` at each sample's label.

    Returns
    -------
    ndarray (M, J): loss(z + dz) - loss(z), computed without subtracting two losses.
    """
    # log-sum-exp(z + dz) - log-sum-exp(z) = log(sum_c p_c exp(dz_c)) = log1p(sum_c p_c expm1(dz_c))
    np.expm1(dz, out=dz)
    s = np.matmul(p[:, None, :], dz)[:, 0, :]
    return _finish_loss_delta(spec, s, dz_target, p_target[:, None])


def _finish_loss_delta(
    spec: MLPSpec, s: np.ndarray, dz_target: np.ndarray, p_target: np.ndarray
) -> np.ndarray:
    """From s = sum_c p_c expm1(dz_c) (..., M, J), overwritten, to the change of the loss.

    ``p_target`` is each sample's probability of its label, shaped to broadcast against ``s``.
    """
    r = np.log1p(s, out=s)
    if spec.loss == "fused":
        return np.subtract(r, dz_target, out=r)
    # textbook: -log(p'_t + d) + log(p_t + d) with p'_t = p_t exp(dz_t - r)
    pt = p_target
    q = np.expm1(np.subtract(dz_target, r, out=r), out=r)
    q *= pt / (pt + CROSS_ENTROPY_DELTA)
    return np.negative(np.log1p(q, out=q), out=q)


def _last_layer_delta(spec: MLPSpec, fw: _Forward, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Summed loss differences for every element of the last Affine (its W and b), shape (D+1, C)."""
    x = fw.inputs[-1]
    N, C = x.shape[0], fw.p.shape[1]
    xa = np.concatenate([x, np.ones((N, 1))], axis=1)  # the bias is an input of value 1
    onehot = np.zeros((N, C))
    onehot[np.arange(N), fw.labels] = 1.0
    total = np.zeros((xa.shape[1], C))
    pt = fw.p[np.arange(N), fw.labels]
    for sign in (1.0, -1.0):
        step = sign * h * xa  # (N, D+1): the move of logit j for perturbing W[i, j]
        # only logit j moves: sum_c p_c expm1(dz_c) = p_j expm1(step); the target moves where j == t
        s = fw.p[:, None, :] * np.expm1(step)[:, :, None]  # (N, D+1, C)
        d = _finish_loss_delta(spec, s, step[:, :, None] * onehot[:, None, :], pt[:, None, None])
        total += sign * d.sum(axis=0)
    return total[:-1], total[-1]


def _distinct_inputs(x: np.ndarray):
    """The distinct non-zero values of each row of ``x`` plus a bias input of value 1.

    Returns
    -------
    rows : ndarray (U,) intp
        The sample of each distinct (sample, value).
    values : ndarray (U,) float64
    owner : ndarray (P,) intp
        For each non-zero input (sample n, feature i), taken in order of i then n, its index in U.
    starts : ndarray (D+1,) intp
        Where each feature's run begins in ``owner`` (for np.add.reduceat); empty runs are flagged by
        ``counts``.
    counts : ndarray (D+1,) intp
        How many non-zero inputs each feature (and the bias, last) has.
    """
    N, D = x.shape
    xa_t = np.concatenate([x, np.ones((N, 1))], axis=1).T  # feature-major: a feature's samples are adjacent
    feature, sample = np.nonzero(xa_t)
    # (sample, value) pairs as complex numbers, which np.unique orders by sample, then value
    keys = np.empty(feature.size, dtype=np.complex128)
    keys.real = sample
    keys.imag = xa_t[feature, sample]
    distinct, owner = np.unique(keys, return_inverse=True)
    counts = np.bincount(feature, minlength=D + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows, values = distinct.real.astype(np.intp), distinct.imag.copy()
    return rows, values, owner.astype(np.intp), starts.astype(np.intp), counts


class _InputCache:
    """Each input row's distinct-value structure, kept across calls: a dataset's images recur.

    Keyed on a hash of the row's bytes; a hit is checked against the batch itself (the non-zero
    count and every value), so a hash collision only costs a recomputation. At most ``limit`` rows
    (about 1 KiB each for MNIST) are kept; past that the cache starts afresh.
    """

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit
        self._rows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def _entry(self, row: np.ndarray):
        """(distinct values with 1.0 (U,), features of the non-zeros then the bias, their value index)."""
        feat = np.flatnonzero(row)
        vals, loc = np.unique(np.append(row[feat], 1.0), return_inverse=True)
        feat = np.append(feat, row.size).astype(np.int16 if row.size < 1 << 15 else np.int32)
        return vals, feat, loc.astype(np.uint8 if vals.size <= 256 else np.int32)

    def distinct_inputs(self, x: np.ndarray):
        """What :func:`_distinct_inputs` returns for ``x``, from the cached rows."""
        N, D = x.shape
        with self._lock:
            if len(self._rows) + N > self.limit:
                self._rows.clear()
            entries = []
            for row in x:
                key = (D, hash(row.tobytes()))
                entry = self._rows.get(key)
                if entry is None:
                    entry = self._rows[key] = self._entry(row)
                entries.append(entry)
        sizes = np.array([e[0].size for e in entries])
        nnz = np.array([e[1].size for e in entries])
        values = np.concatenate([e[0] for e in entries])
        feats = np.concatenate([e[1] for e in entries]).astype(np.intp)
        owners = np.concatenate([e[2] for e in entries]).astype(np.intp)
        owners += np.repeat(np.cumsum(sizes) - sizes, nnz)
        samples = np.repeat(np.arange(N), nnz)
        seen = np.where(feats < D, x[samples, np.minimum(feats, D - 1)], 1.0)
        same = np.array_equal(np.count_nonzero(x, axis=1), nnz - 1) and np.array_equal(seen, values[owners])
        if not same:
            return _distinct_inputs(x)  # a hash collision: the rows are not the ones cached
        counts = np.bincount(feats, minlength=D + 1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        # feature-major with the samples in order, as np.unique gives them
        owner = owners[np.argsort(feats, kind="stable")]
        return np.repeat(np.arange(N), sizes), values, owner, starts, counts


_INPUT_CACHE = _InputCache()


def _hidden_layer_delta(
    spec: MLPSpec, W64, fw: _Forward, layer: int, h: float, threads: int, cached: bool = False,
    samples: np.ndarray | None = None, gain: _Gain | None = None,
):
    """Summed loss differences for every element of hidden Affine ``layer`` (its W and b).

    ``cached``: take the input's distinct values from :data:`_INPUT_CACHE` (the same arrays).
    ``samples``: only these samples' contributions (indices into the batch), with ``gain`` the
    layer's :class:`_Gain` when the caller has it.
    """
    x = fw.inputs[layer]
    if samples is not None:
        rows, values, owner, starts, counts = _distinct_inputs(x[samples])
        rows = samples[rows]
        threads = threads if samples.size > 8 else 1  # a few samples: not worth starting threads
    else:
        distinct = _INPUT_CACHE.distinct_inputs if cached else _distinct_inputs
        rows, values, owner, starts, counts = distinct(x)
    J = W64[layer].shape[1]
    if gain is None:
        gain = _linear_gain(spec, W64, fw, layer, h)
    if spec.activations[layer] == "sigmoid":
        fw.sigmoid_parts(layer)  # before the threads start: they share it
    # the widest temporary of a chunk: (2, rows, J) with the series, (2, rows, J, width) otherwise
    widest = 1 if gain is not None and gain.moments is not None else max(W.shape[1] for W in W64[layer + 1 :])
    chunk = max(1, min(_CHUNK_ELEMENTS // (2 * J * widest), -(-rows.size // (2 * threads))))
    bounds = [(s, min(s + chunk, rows.size)) for s in range(0, rows.size, chunk)]
    D = np.empty((rows.size, J))
    local = threading.local()

    def work(lo: int, hi: int) -> None:
        if gain is not None:
            ws = getattr(local, "ws", None)
            if ws is None:
                ws = local.ws = _Workspace(chunk, fw.p.shape[1], J)
            if gain.moments is not None and spec.activations[layer] in ("relu", "identity"):
                _linear_rank1_delta(spec, fw, layer, rows[lo:hi], values[lo:hi], h, ws, D[lo:hi], gain)
            else:
                _rank1_delta(spec, fw, layer, rows[lo:hi], values[lo:hi], h, ws, D[lo:hi], gain)
        else:
            D[lo:hi] = _distinct_delta(spec, W64, fw, layer, rows[lo:hi], values[lo:hi], h)

    _run(work, bounds, threads)
    if gain is not None and gain.unsafe is not None:
        # samples where a step may cross a ReLU kink above: pushed through the layers densely
        redo = np.flatnonzero(gain.unsafe[rows])
        for lo in range(0, redo.size, chunk):
            r = redo[lo : lo + chunk]
            D[r] = _distinct_delta(spec, W64, fw, layer, rows[r], values[r], h)
    # sum each feature's distinct-value rows: a feature with no non-zero input has an exact 0
    summed = np.zeros((x.shape[1] + 1, J))
    has = counts > 0
    if owner.size:
        summed[has] = np.add.reduceat(D[owner], starts[has], axis=0)
    return summed[:-1], summed[-1]


@dataclass
class _Gain:
    """How the logits move per unit move of column j of a hidden layer's activation: rank 1.

    ``T`` is (C, J) when every sample shares it (the layer just below the logits: W_last.T), or
    (N, C, J) per sample (ReLU/identity layers in between, each sample's ReLUs frozen at their
    side of the kink). ``target`` (N, J) is T at each sample's label; ``moments`` are expm1's
    series coefficients (or None: evaluate expm1); ``unsafe`` (N,) bool marks samples where a step
    may cross a kink, which the caller evaluates densely instead (None: no such sample).
    """

    T: np.ndarray
    target: np.ndarray
    moments: list[np.ndarray] | None
    unsafe: np.ndarray | None = None


def _linear_gain(
    spec: MLPSpec, W64, fw: _Forward, layer: int, h: float, moments: bool = True
) -> _Gain | None:
    """The rank-1 map from a move of column j of ``layer``'s activation to the logits; None if none.

    Above the layer just below the logits this holds when every activation in between is ReLU or
    identity: piecewise linear, so for a sample whose steps cross no kink, the change of the
    logits is exactly the moved activation times G[n, j, :] = (W diag(mask) W ... W)[j, :].
    """
    last = len(W64) - 1
    x = fw.inputs[layer]
    N = x.shape[0]
    # per sample, how far a step can move a unit of this layer's activation
    reach = h * np.maximum(1.0, np.max(np.abs(x), axis=1, initial=0.0)) * _LIPSCHITZ[spec.activations[layer]]
    G, unsafe = W64[layer + 1], None  # (J, D) for all samples, then (N, J, D)
    for k in range(layer + 1, last):
        name = spec.activations[k]
        if name == "sigmoid":
            return None
        if name == "relu":
            # a unit whose pre-activation a step could take across 0 (twice the bound, for rounding)
            bound = 2.0 * reach[:, None] * np.max(np.abs(G), axis=-2)
            near = np.any(np.abs(fw.pre[k]) <= bound, axis=1)
            unsafe = near if unsafe is None else unsafe | near
            G = G * (fw.pre[k] > 0)[:, None, :]
        G = G @ W64[k + 1]
    labels = fw.labels
    if G.ndim == 2:  # the same for every sample (W_last, or products through identity layers)
        T = np.ascontiguousarray(G.T)
        target = T[labels]
    else:
        T = np.ascontiguousarray(G.transpose(0, 2, 1))
        target = T[np.arange(N), labels]
    return _Gain(T, target, _series_moments(spec, W64, fw, layer, h, G) if moments else None, unsafe)


def _series_moments(
    spec: MLPSpec, W64, fw: _Forward, layer: int, h: float, G: np.ndarray
) -> list[np.ndarray] | None:
    """nu_k = sum_c p_c G[j, c]**k / k!, (N, J) each, for summing expm1 as a series; None if too long.

    Perturbing column j of ``layer`` moves sample n's logits by dz = delta * G[(n,) j, :] with
    |delta| <= h * max|input| * L (L the activation's Lipschitz constant). Then
    sum_c p_c expm1(delta * G[j, c]) = sum_k delta**k * nu_k[n, j]: the same number expm1 would
    give, computed for every class at once, to within ``_SERIES_TOL``.
    """
    step = h * max(1.0, float(np.max(np.abs(fw.inputs[layer]), initial=0.0)))
    z = step * _LIPSCHITZ[spec.activations[layer]] * float(np.max(np.abs(G), initial=0.0))
    if not np.isfinite(z):
        return None
    terms = _series_terms(z)
    if terms is None:
        return None
    moments, Gk = [], np.ones_like(G)
    for k in range(1, terms + 1):
        Gk = Gk * G
        if G.ndim == 2:
            moments.append((fw.p @ Gk.T) / math.factorial(k))
        else:
            moments.append(np.einsum("nc,njc->nj", fw.p, Gk) / math.factorial(k))
    return moments


class _Workspace:
    """Buffers one thread reuses across chunks, so the hot loop allocates nothing.

    Axis 0 of each is the sign of the step (+h, -h): both are evaluated in the same operations.
    """

    def __init__(self, rows: int, classes: int, width: int) -> None:
        self._shape = (rows, classes, width)
        self._dz: np.ndarray | None = None
        self.base = np.empty((rows, width))
        self.moved = np.empty((2, rows, width))
        self.dz_t = np.empty((2, rows, width))
        self.series = np.empty((2, rows, width))

    def logits_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """(2, rows, C, J) and (2, rows, 1, J) for the expm1 form, made on first use only."""
        if self._dz is None:
            rows, classes, width = self._shape
            self._dz = np.empty((2, rows, classes, width))
            self._s = np.empty((2, rows, 1, width))
        return self._dz, self._s


def _rank1_delta(
    spec: MLPSpec,
    fw: _Forward,
    layer: int,
    rows: np.ndarray,
    values: np.ndarray,
    h: float,
    ws: _Workspace,
    out: np.ndarray,
    gain: _Gain,
) -> None:
    """(d+ - d-) into ``out`` (M, J) for a hidden layer whose moves reach the logits as rank 1.

    Perturbing column j of this layer's pre-activation for sample m moves its activation by
    ``moved[m, j]`` and so the logits by the rank-1 change ``moved[m, j] * G[m, j, :]`` (see
    :class:`_Gain`; G = W_last for the layer just below the logits).
    """
    M = rows.size
    moments = gain.moments
    labels = fw.labels[rows]
    p = fw.p[rows]  # (M, C)
    pt = p[np.arange(M), labels]
    moved = _moved_activation(spec.activations[layer], fw, layer, rows, values, h, ws)
    dz_t = np.multiply(moved, gain.target[rows], out=ws.dz_t[:, :M])
    if moments is not None:
        # s = sum_k moved**k * nu_k, by Horner's rule: expm1 for all C classes at once
        s = np.multiply(moved, moments[-1][rows], out=ws.series[:, :M])
        for nu in reversed(moments[:-1]):
            s += nu[rows]
            s *= moved
    else:
        dz_buf, s_buf = ws.logits_buffers()
        dz = dz_buf[:, :M]  # (2, M, C, J)
        WT = gain.T if gain.T.ndim == 2 else gain.T[rows]  # (C, J) or (M, C, J)
        np.multiply(moved[:, :, None, :], WT, out=dz)
        np.expm1(dz, out=dz)
        s = np.matmul(p[:, None, :], dz, out=s_buf[:, :M])[:, :, 0, :]  # (2, M, J)
    d = _finish_loss_delta(spec, s, dz_t, pt[:, None])
    np.subtract(d[0], d[1], out=out)


def _moved_activation(name: str, fw: _Forward, layer: int, rows, values, h: float, ws: _Workspace):
    """act(a + e) - act(a) for e = +h v (axis 0) and -h v (axis 1): (2, M, J), in ``ws.moved``.

    Every column j is its own experiment: column j of the pre-activation moves by e. For the
    sigmoid, with u = exp(-a) and r = exp(-e), sigmoid(a + e) - sigmoid(a) = sigmoid(a) u (1 - r) /
    (1 + u r): no exp per element and no cancellation (u, sigmoid(a) u are computed once per layer).
    """
    M = rows.size
    moved = ws.moved[:, :M]
    if name == "sigmoid":
        u, w = fw.sigmoid_parts(layer)
        e = h * values
        ur = ws.base[:M]
        for side, r, q in ((0, np.exp(-e), -np.expm1(-e)), (1, np.exp(e), -np.expm1(e))):
            np.take(u, rows, axis=0, out=ur)
            ur *= r[:, None]
            ur += 1.0
            np.take(w, rows, axis=0, out=moved[side])
            moved[side] *= q[:, None]
            moved[side] /= ur
        return moved
    a = fw.pre[layer][rows]  # (M, J)
    base = ws.base[:M]
    np.copyto(base, a)
    _activate_(name, base)
    np.multiply(values[:, None], h, out=moved[0])
    np.negative(moved[0], out=moved[1])
    moved += a
    _activate_(name, moved)
    moved -= base
    return moved


def _linear_rank1_delta(
    spec: MLPSpec,
    fw: _Forward,
    layer: int,
    rows: np.ndarray,
    values: np.ndarray,
    h: float,
    ws: _Workspace,
    out: np.ndarray,
    gain: _Gain,
) -> None:
    """:func:`_rank1_delta` for a ReLU/identity layer with expm1's series: both steps at once.

    A unit with a > h|v| moves by exactly +-h v on both sides, a ReLU unit with a < -h|v| not at
    all, so s(+-delta) = E +- O, E and O the even and odd parts of the series in delta. Rows with a
    unit within h|v| of the kink go through :func:`_rank1_delta`.
    """
    M = rows.size
    a = np.take(fw.pre[layer], rows, axis=0, out=ws.moved[1, :M])  # (M, J)
    step = (h * values)[:, None]
    reach = np.abs(step)
    delta = ws.base[:M]
    if spec.activations[layer] == "relu":
        np.multiply(np.greater(a, reach), step, out=delta)
        kink = np.flatnonzero(np.min(np.abs(a, out=ws.moved[0, :M]), axis=1) <= reach[:, 0])
    else:
        delta[...] = step
        kink = np.empty(0, dtype=np.intp)
    d2 = np.multiply(delta, delta, out=ws.moved[0, :M])
    nu = ws.moved[1, :M]  # a is no longer needed: each moment's rows go here in turn
    even, odd = ws.series[0, :M], ws.series[1, :M]
    even[...] = 0.0  # sum over even k >= 2 of delta**k nu_k, by Horner's rule in delta**2
    for m in reversed(gain.moments[1::2]):
        even += np.take(m, rows, axis=0, out=nu)
        even *= d2
    odd[...] = 0.0  # sum over odd k of delta**k nu_k
    for m in reversed(gain.moments[0::2]):
        odd *= d2
        odd += np.take(m, rows, axis=0, out=nu)
    odd *= delta
    dz_t = np.multiply(delta, np.take(gain.target, rows, axis=0, out=nu), out=ws.dz_t[0, :M])
    if spec.loss == "fused":
        # log1p(E + O) - log1p(E - O) = log1p(2 O / (1 + E - O)); each side's -dz_t
        ratio = np.subtract(1.0, odd, out=ws.dz_t[1, :M])
        ratio += even
        np.divide(odd, ratio, out=ratio)
        ratio *= 2.0
        np.log1p(ratio, out=ratio)
        dz_t *= 2.0
        np.subtract(ratio, dz_t, out=out)
    else:
        pt = fw.p[rows, fw.labels[rows]][:, None]
        s = np.stack([even + odd, even - odd])
        d = _finish_loss_delta(spec, s, np.stack([dz_t, -dz_t]), pt)
        np.subtract(d[0], d[1], out=out)
    if kink.size:
        redo = np.empty((kink.size, out.shape[1]))
        _rank1_delta(spec, fw, layer, rows[kink], values[kink], h, ws, redo, gain)
        out[kink] = redo


def _distinct_delta(
    spec: MLPSpec, W64, fw: _Forward, layer: int, rows: np.ndarray, values: np.ndarray, h: float
) -> np.ndarray:
    """(d+ - d-) for M (sample, input value) pairs and all J columns of ``layer``: shape (M, J).

    For a hidden layer with at least one more hidden layer above it (the one just below the logits
    goes through ``_rank1_delta``).
    """
    act = _ACTIVATIONS[spec.activations[layer]]
    a = fw.pre[layer][rows]  # (M, J)
    base = act(a)
    p = fw.p[rows]
    labels = fw.labels[rows]
    pt = p[np.arange(rows.size), labels]
    last = len(W64) - 1
    out = None
    for sign in (1.0, -1.0):
        # every column j is its own experiment: column j of the pre-activation moves by +-h * value
        moved = act(a + (sign * h) * values[:, None]) - base  # (M, J): the one moved column
        nxt = layer + 1
        dz = moved[:, :, None] * W64[nxt][None, :, :]  # rank-1 change of the next pre-activation
        while nxt < last:  # push the dense change through the remaining layers
            act_n = _ACTIVATIONS[spec.activations[nxt]]
            a_n = fw.pre[nxt][rows][:, None, :]
            dx = act_n(a_n + dz) - act_n(a_n)
            nxt += 1
            dz = dx @ W64[nxt]  # (M, J, C) at the end
        dz_t = np.take_along_axis(dz, labels[:, None, None], axis=2)[..., 0]
        dz = dz.transpose(0, 2, 1)
        d = _loss_delta(spec, dz, p, dz_t, pt)
        out = d if out is None else np.subtract(out, d, out=out)
    return out


# --- the step series: each sample's loss change as a power series in the step ---------------------

#: Most terms of the step series; a longer one leaves the layer to the per-input routes above.
_STEP_MAX_TERMS = 16
#: Radii of the disk |e| <= R on which the remainder is bounded, as rho = R * max|G| (and R <= 1).
_STEP_RHOS = (0.05, 0.1, 0.2, 0.28, 0.45, 0.6)


def _step_terms(loss: str, reach: float, gmax: float) -> int | None:
    """Fewest terms K of the step series whose remainder is below ``_SERIES_TOL`` for |e| <= reach.

    D(e), one sample's loss change when one pre-activation moves by e, is analytic in e on the
    complex disk |e| <= R, R = min(1, rho / gmax): there the activation moves by at most |e| (the
    sigmoid's slope is at most 1 on it), each logit by at most rho, and |D| <= M, from
    |expm1(z)| <= exp(|z|) - 1 and |log1p(s)| <= -log(1 - |s|). Cauchy's estimate bounds the k-th
    coefficient by M / R**k, so the tail after e**K is at most M t**(K+1) / (1 - t), t = reach / R;
    both steps +-e count. The best of ``_STEP_RHOS``; None past ``_STEP_MAX_TERMS`` terms.
    """
    if not (math.isfinite(gmax) and math.isfinite(reach)):
        return None
    best = None
    for rho in _STEP_RHOS:
        R = min(1.0, rho / gmax) if gmax > 0 else 1.0
        rho = R * gmax
        s = math.expm1(rho)  # |sum_c p_c expm1(dz_c)|
        m = s if loss == "fused" else math.expm1(rho - math.log1p(-s)) if s < 1.0 else 1.0
        if m >= 1.0:
            continue
        bound = -math.log1p(-m) + (rho if loss == "fused" else 0.0)  # textbook: -log1p(k expm1(...))
        t = reach / R
        if not (np.isfinite(t) and t < 1.0):
            continue
        for K in range(1, (best or _STEP_MAX_TERMS + 1)):
            if 2.0 * bound * t ** (K + 1) / (1.0 - t) <= _SERIES_TOL:
                best = K
                break
    return best


def _series_product(a: list, b: list) -> list:
    """Coefficients of a(e) * b(e) up to the length of ``a``; both have a[0] = b[0] = 0."""
    K = len(a) - 1
    return [0.0, 0.0] + [sum(a[i] * b[k - i] for i in range(1, k)) for k in range(2, K + 1)]


def _series_log1p(s: list) -> list:
    """Coefficients of log1p(s(e)), s[0] = 0, from (1 + s) L' = s'."""
    L = [0.0] * len(s)
    for k in range(1, len(s)):
        L[k] = s[k] - sum((k - i) * s[i] * L[k - i] for i in range(1, k)) / k
    return L


def _series_expm1(t: list) -> list:
    """Coefficients of expm1(t(e)), t[0] = 0, from E' = t' E."""
    E = [1.0] + [0.0] * (len(t) - 1)
    for k in range(1, len(t)):
        E[k] = sum(i * t[i] * E[k - i] for i in range(1, k + 1)) / k
    return [0.0] + E[1:]


def _activation_series(name: str, fw: _Forward, layer: int, K: int) -> list:
    """Coefficients of act(a + e) - act(a) in e, (N, J) each (or scalars), index 0 the constant 0.

    The sigmoid's from 1 / (1 + u exp(-e)), u = exp(-a): y_k = -(1 - y_0) sum_i (-1)**i / i! y_(k-i).
    A ReLU's is its slope (a > 0): the caller evaluates samples with a unit near the kink exactly.
    """
    if name == "sigmoid":
        y = [fw.inputs[layer + 1]]  # sigmoid(a)
        w = fw.sigmoid_parts(layer)[1]  # u / (1 + u) = 1 - sigmoid(a), without cancellation
        for k in range(1, K + 1):
            y.append(-w * sum(((-1.0) ** i / math.factorial(i)) * y[k - i] for i in range(1, k + 1)))
        return [0.0] + y[1:]
    slope = (fw.pre[layer] > 0).astype(np.float64) if name == "relu" else 1.0
    return [0.0, slope] + [0.0] * (K - 1)


def _step_series(spec: MLPSpec, fw: _Forward, layer: int, name: str, T: np.ndarray, target, K: int):
    """Odd coefficients q_1, q_3, ... (N, J) of D_nj(e), sample n's loss change when a_nj moves by e.

    The logits move by (act(a + e) - act(a)) * G[j, :] (``T`` is G transposed, (C, J) or (N, C, J));
    sum_c p_c expm1(dz_c) = sum_m nu_m d(e)**m, nu_m = sum_c p_c G[j, c]**m / m!, then log1p and the
    label's term as in :func:`_finish_loss_delta`, all as power series in e.
    """
    d = _activation_series(name, fw, layer, K)
    p = fw.p
    s, power, Tm = [0.0] * (K + 1), d, np.ones_like(T)
    for m in range(1, K + 1):
        if m > 1:
            power = _series_product(power, d)
        Tm = Tm * T
        nu = (p @ Tm if T.ndim == 2 else np.einsum("nc,ncj->nj", p, Tm)) / math.factorial(m)
        for k in range(m, K + 1):
            s[k] = s[k] + nu * power[k]
    L = _series_log1p(s)
    moved_t = [target * c for c in d]  # the label's logit
    if spec.loss == "fused":
        F = [L[k] - moved_t[k] for k in range(K + 1)]
    else:  # -log(p'_t + eps) + log(p_t + eps) = -log1p(k expm1(dz_t - log1p(s)))
        pt = fw.p[np.arange(p.shape[0]), fw.labels][:, None]
        kappa = pt / (pt + CROSS_ENTROPY_DELTA)
        V = [kappa * c for c in _series_expm1([moved_t[k] - L[k] for k in range(K + 1)])]
        F = [-c for c in _series_log1p(V)]
    return [np.broadcast_to(F[k], fw.pre[layer].shape) for k in range(1, K + 1, 2)]


def _series_layer_delta(spec: MLPSpec, W64, fw: _Forward, layer: int, h: float, threads: int):
    """Summed loss differences of every element of Affine ``layer`` from the step series; None if too long.

    Perturbing W[i, j] by +-h moves a_nj by e = +-h x_ni, so sample n contributes
    D_nj(h x_ni) - D_nj(-h x_ni) = 2 sum over odd k of q_k[n, j] (h x_ni)**k, and the sum over the
    batch is 2 sum_k h**k (x**k).T @ q_k: every element's central difference, to within
    ``_SERIES_TOL`` per sample, in a few products. Samples where a step may reach a ReLU kink (of
    this layer, or above it: ``_Gain.unsafe``) are left out of the series and evaluated exactly.
    """
    x = fw.inputs[layer]
    N = x.shape[0]
    last = layer == len(W64) - 1
    gain = None
    if last:  # perturbing logit j moves it alone: G = I
        C = fw.p.shape[1]
        T, target, unsafe, name = np.eye(C), np.eye(C)[fw.labels], None, "identity"
    else:
        gain = _linear_gain(spec, W64, fw, layer, h, moments=False)
        if gain is None:
            return None
        T, target, unsafe, name = gain.T, gain.target, gain.unsafe, spec.activations[layer]
    reach_n = h * np.maximum(1.0, np.max(np.abs(x), axis=1, initial=0.0))  # the bias is an input of 1
    K = _step_terms(spec.loss, float(np.max(reach_n)), float(np.max(np.abs(T), initial=0.0)))
    if K is None:
        return None
    exact = np.zeros(N, dtype=bool) if unsafe is None else unsafe.copy()
    if name == "relu":  # a unit a step may take across 0 (twice the reach, for rounding)
        exact |= np.any(np.abs(fw.pre[layer]) <= 2.0 * reach_n[:, None], axis=1)
    if name == "sigmoid":
        fw.sigmoid_parts(layer)
    q = _step_series(spec, fw, layer, name, T, target, K)
    summed_W = np.zeros((x.shape[1], fw.pre[layer].shape[1]))
    summed_b = np.zeros(fw.pre[layer].shape[1])
    keep = ~exact
    xk, xs = np.ones_like(x[keep]), x[keep]
    for i, qk in enumerate(q):
        k = 2 * i + 1
        xk = xk * xs if i == 0 else xk * (xs * xs)
        qk = qk[keep]
        summed_W += (2.0 * h**k) * (xk.T @ qk)
        summed_b += (2.0 * h**k) * qk.sum(axis=0)
    if exact.any():
        dW, db = _hidden_layer_delta(spec, W64, fw, layer, h, threads, samples=np.flatnonzero(exact),
                                     gain=gain)
        summed_W += dW
        summed_b += db
    return summed_W, summed_b


def _run(work, bounds, threads: int) -> None:
    if threads <= 1 or len(bounds) <= 1:
        for lo, hi in bounds:
            work(lo, hi)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(work, lo, hi) for lo, hi in bounds]:
            f.result()


def default_threads() -> int:
    """Threads the fast path uses by default: the CPUs this process may run on, at most 4."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def mlp_numerical_gradient(
    spec: MLPSpec, x, t, h: float = 1e-4, *, threads: int | None = None, cache_inputs: bool = False
):
    """Central-difference gradient of :func:`mlp_loss` for every weight and bias, fast.

    Parameters
    ----------
    spec : MLPSpec
        The network as arrays (any float dtype; the computation is float64).
    x : array_like, shape (N, D_0)
    t : array_like, labels (N,) or one-hot (N, C)
    h : float
        The step, as in ``scratchnet.gradient.numerical_gradient``.
    threads : int, optional
        Worker threads (default: :func:`default_threads`). The result does not depend on it.
    cache_inputs : bool
        Keep the distinct-value structure of each row of ``x`` for later calls (for rows that
        recur, such as a dataset's images). The result does not depend on it.

    Returns
    -------
    list of (dW, db) pairs, float64, shaped like ``spec.weights`` and ``spec.biases``: for each element,
    (L(w + h) - L(w - h)) / 2h of the batch-mean loss.
    """
    check_step(h)
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads: expected at least 1, got {threads}")
    W64, b64, x64, labels = _prepare(spec, x, t)
    with blas_threads(1):  # the products here are small: a second BLAS thread only waits for a core
        return _gradient(spec, W64, b64, x64, labels, h, threads, cache_inputs)


def _gradient(spec: MLPSpec, W64, b64, x64, labels, h: float, threads: int, cache_inputs: bool = False):
    fw = _forward(spec, W64, b64, x64, labels)
    N = x64.shape[0]
    grads = []
    for layer in range(len(W64)):
        found = _series_layer_delta(spec, W64, fw, layer, h, threads)
        if found is not None:
            dW, db = found
        elif layer == len(W64) - 1:
            dW, db = _last_layer_delta(spec, fw, h)
        else:
            dW, db = _hidden_layer_delta(spec, W64, fw, layer, h, threads, cache_inputs and layer == 0)
        dW = dW / N
        db = db / N
        if spec.weight_decay:
            w = W64[layer]
            dW = dW + 0.5 * spec.weight_decay * ((w + h) ** 2 - (w - h) ** 2)
        grads.append((dW / (2 * h), db / (2 * h)))
    return grads
