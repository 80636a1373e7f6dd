"""Numerical differentiation and gradient descent (chapter 4): the one home of numerical gradients.

``numerical_diff``, ``numerical_gradient`` and ``gradient_descent`` are the textbook's definitions,
kept literal so that they reproduce its printed numbers: the central difference
(f(x + h) - f(x - h)) / 2h with h = 1e-4.

``network_numerical_gradient`` differentiates a whole network described by a :class:`NetworkSpec`
(plain layer descriptions: a kind, a forward function, the parameter arrays) and dispatches between
the book's loop, the cached loop and the fast path of :mod:`scratchnet.fastgrad`. How and why:
docs/numerical-gradient.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._checks import check_callable, check_real, check_step
from .fastgrad import MLPSpec, mlp_numerical_gradient

__all__ = [
    "np",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_2d",
    "gradient_descent",
    "LayerSpec",
    "NetworkSpec",
    "NUMERICAL_METHODS",
    "network_numerical_gradient",
]


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central-difference derivative of a scalar function at ``x``.

    Parameters
    ----------
    f : callable
        A function of one real number returning a real number.
    x : float
        The point.
    h : float
        The step (positive).

    Returns
    -------
    float
        (f(x + h) - f(x - h)) / (2h). For f(x) = 0.01x^2 + 0.1x at 5 this is 0.1999999999990898.
    """
    check_callable("f", f)
    check_step(h)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference gradient of ``f`` with respect to every element of ``x``.

    ``x`` is perturbed in place, one element at a time, and ``f(x)`` evaluated. This is how the
    textbook differentiates a network's loss with respect to a weight array that the network
    holds: ``f`` may ignore its argument and read the same array through the network. Every
    element is put back exactly as it was, even when ``f`` raises.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of float, any shape
        The point. Must be a writeable floating array: an integer array cannot be perturbed by h.
    h : float
        The step (positive).

    Returns
    -------
    ndarray of x's shape and dtype
        The gradient; float32 input gives float32 output.
    """
    check_callable("f", f)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a NumPy array of floats, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"x: expected a floating array (it is perturbed by h={h}), got dtype {x.dtype}; "
            "convert it with x.astype(float) first"
        )
    if not x.flags.writeable:
        raise ValueError("x: expected a writeable array (it is perturbed in place), got a read-only one")
    check_step(h)

    grad = np.zeros_like(x)
    flat_grad = grad.reshape(-1)
    for i, idx in enumerate(np.ndindex(x.shape)):
        original = x[idx]
        try:
            x[idx] = original + h
            fxh1 = f(x)
            x[idx] = original - h
            fxh2 = f(x)
        finally:
            x[idx] = original
        flat_grad[i] = (_real_value(fxh1) - _real_value(fxh2)) / (2 * h)
    return grad


def numerical_gradient_2d(f: Callable[[np.ndarray], float], X: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """The book's row-by-row form: the gradient of ``f`` at 1-D ``X``, or at each row of 2-D ``X``.

    For 2-D ``X`` row i of the result is ``numerical_gradient(f, X[i])``: ``f`` sees one row at a
    time (the book's chapter 4 plots the gradient of ``x0**2 + x1**2`` at a grid of points this way).

    Parameters
    ----------
    f : callable
        ``f(x) -> float`` of a 1-D array.
    X : ndarray of float, shape (D,) or (N, D)
        Perturbed in place and put back, as in :func:`numerical_gradient`.

    Returns
    -------
    ndarray of X's shape and dtype
    """
    if isinstance(X, np.ndarray) and X.ndim == 2:
        grad = np.zeros_like(X)
        for i in range(X.shape[0]):
            grad[i] = numerical_gradient(f, X[i], h)
        return grad
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(f"X: expected shape (D,) or (N, D), got {X.shape}")
    return numerical_gradient(f, X, h)


def _real_value(v):
    """``f(x)`` checked to be one real number (a loss), not a vector, None or a string."""
    if type(v) is float:  # the common case, at no cost
        return v
    a = np.asarray(v) if v is not None else None
    if a is None or a.dtype.kind not in "iuf":
        raise TypeError(f"f: expected f(x) to return a real number, got {type(v).__name__} {v!r:.60}")
    if a.ndim != 0:
        raise ValueError(f"f: expected f(x) to return one real number (a scalar), got shape {a.shape}")
    return v


def gradient_descent(
    f: Callable[[np.ndarray], float],
    init_x,
    lr: float = 0.01,
    step_num: int = 100,
    *,
    return_path: bool = False,
):
    """Minimise ``f`` by ``step_num`` steps of x <- x - lr * numerical_gradient(f, x).

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    init_x : array_like of float
        The starting point; it is copied and never modified.
    lr : float
        The learning rate.
    step_num : int
        The number of steps (>= 0).
    return_path : bool
        Also return the visited points.

    Returns
    -------
    x : ndarray (float64 unless init_x is another float dtype)
        The final point.
    path : ndarray of shape (step_num + 1, *x.shape)
        Only with ``return_path``: the start, then the point after each step.
    """
    check_callable("f", f)
    lr = check_real("lr", lr, low=0.0)  # as SGD checks it
    if isinstance(step_num, bool) or not isinstance(step_num, (int, np.integer)) or step_num < 0:
        raise ValueError(f"step_num: expected a non-negative integer, got {step_num!r}")
    x = np.array(init_x, copy=True)
    if x.dtype.kind != "f":
        if x.dtype.kind not in "biu":
            raise TypeError(f"init_x: expected a real numeric array, got dtype {x.dtype}")
        x = x.astype(np.float64)
    path = [x.copy()] if return_path else None
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
        if path is not None:
            path.append(x.copy())
    if return_path:
        return x, np.array(path)
    return x


# --- a whole network --------------------------------------------------------------------------

#: The ``method`` names of :func:`network_numerical_gradient`.
NUMERICAL_METHODS = ("auto", "fast", "general", "naive")

#: Layer kinds the fast path understands; any other layer is "other".
_ACTIVATION_KINDS = ("sigmoid", "relu")


@dataclass(frozen=True)
class LayerSpec:
    """One hidden layer as numerical differentiation sees it.

    Parameters
    ----------
    kind : {"affine", "sigmoid", "relu", "other"}
        "affine" for an ``Affine`` (out = x W + b, x flattened to (N, D)), "sigmoid"/"relu" for
        those elementwise activations, "other" for any layer (evaluated through ``forward`` only).
    forward : callable
        ``forward(x) -> out``, the layer's training-mode forward pass.
    params : dict[str, ndarray]
        The network's name for each parameter -> the very array the layer computes with (it is
        perturbed in place and put back). An "affine" lists its W (D, H) first, then its b (H,).
    name : str
        What error messages call the layer (its class name).
    """

    kind: str
    forward: Callable[[np.ndarray], np.ndarray]
    params: Mapping[str, np.ndarray]
    name: str = "layer"


@dataclass(frozen=True)
class NetworkSpec:
    """A network as numerical differentiation sees it: its hidden layers and its loss.

    Parameters
    ----------
    layers : sequence of LayerSpec
        The hidden layers, input first.
    loss : callable
        ``loss(scores, t) -> float``: the loss layer on the last layer's output, plus weight decay.
    loss_form : {"fused", "textbook"} or None
        The form of a ``SoftmaxWithLoss`` loss layer; None for any other loss (no fast path).
    weight_decay : float
        lambda of 0.5 * lambda * sum(W**2) over the Affine weights, as included in ``loss``.
    """

    layers: Sequence[LayerSpec]
    loss: Callable[[np.ndarray, object], float]
    loss_form: str | None = None
    weight_decay: float = 0.0


def network_numerical_gradient(
    net: NetworkSpec, x: np.ndarray, t, h: float = 1e-4, *, method: str = "auto", threads: int | None = None
) -> dict[str, np.ndarray]:
    """Central differences (L(w + h) - L(w - h)) / 2h of the network's loss, for every parameter.

    Parameters
    ----------
    net : NetworkSpec
    x : ndarray, shape (N, ...)
        The batch, already in the network's dtype.
    t : array_like, labels (N,) or one-hot (N, C)
    h : float
        The step.
    method : {"auto", "fast", "general", "naive"}
        "naive": the book's loop, the whole network twice per element. "general": the same loop with
        the inputs of the perturbed layer cached (bit for bit the naive result). "fast": the fast
        path for the whole network (an Affine/Sigmoid/Relu stack with a SoftmaxWithLoss), else a
        ValueError. "auto": the fast path for the top such stack, the cached loop below it.
    threads : int, optional
        Worker threads of the fast path (the result does not depend on them).

    Returns
    -------
    dict[str, ndarray]
        Each parameter's gradient, of its shape and dtype, in layer order.
    """
    if method not in NUMERICAL_METHODS:
        raise ValueError(f"method: expected one of {NUMERICAL_METHODS}, got {method!r}")
    check_step(h)
    if method == "naive":
        return _naive_network_gradient(net, x, t, h)
    start = _fast_head_start(net) if method != "general" else None
    if method == "fast" and start != 0:
        names = [layer.name for layer in net.layers]
        loss = "SoftmaxWithLoss" if net.loss_form else "another loss"
        raise ValueError(
            "method: 'fast' takes Affine layers with Sigmoid/Relu between them ending in "
            f"SoftmaxWithLoss; this network has {names} and {loss} (use 'general')"
        )
    stop = len(net.layers) if start is None else start
    inputs = _layer_inputs(net, x, stop)
    grads = _cached_network_gradient(net, inputs, t, h, stop)
    if start is not None:
        grads.update(_fast_head_gradient(net, start, inputs[start], t, h, threads))
    return grads


def _naive_network_gradient(net: NetworkSpec, x: np.ndarray, t, h: float) -> dict[str, np.ndarray]:
    """The textbook loop: every element perturbed in place, the whole network evaluated again."""

    def loss_w(_):  # reads the perturbed parameter through the layers, as the book's does
        out = x
        for layer in net.layers:
            out = layer.forward(out)
        return net.loss(out, t)

    params = [(name, p) for layer in net.layers for name, p in layer.params.items()]
    return {name: numerical_gradient(loss_w, p, h) for name, p in params}


def _layer_inputs(net: NetworkSpec, x: np.ndarray, stop: int) -> list[np.ndarray]:
    """inputs[k]: what layer k receives, for k <= stop (it does not depend on layer k's parameters)."""
    inputs = [x]
    for layer in net.layers[:stop]:
        inputs.append(layer.forward(inputs[-1]))
    return inputs


def _cached_network_gradient(net: NetworkSpec, inputs, t, h: float, stop: int) -> dict[str, np.ndarray]:
    """The textbook loop for the parameters of layers below ``stop``, never recomputing the layers below."""
    grads: dict[str, np.ndarray] = {}
    for k, layer in enumerate(net.layers[:stop]):

        def loss_w(_, k=k):
            out = inputs[k]
            for above in net.layers[k:]:
                out = above.forward(out)
            return net.loss(out, t)

        for name, p in layer.params.items():
            grads[name] = numerical_gradient(loss_w, p, h)
    return grads


def _fast_head_start(net: NetworkSpec) -> int | None:
    """Index of the lowest layer of the top run Affine ([Sigmoid|Relu]) Affine ... Affine; None if none.

    That run, ending in a SoftmaxWithLoss, is what :mod:`scratchnet.fastgrad` differentiates.
    """
    layers = net.layers
    if net.loss_form is None or not layers or layers[-1].kind != "affine":
        return None
    start, k = None, len(layers) - 1
    while k >= 0:
        kind = layers[k].kind
        if kind == "affine":
            start = k
        elif not (kind in _ACTIVATION_KINDS and k > 0 and layers[k - 1].kind == "affine"):
            break  # an activation is the head's only if an Affine feeds it
        k -= 1
    return start


def _fast_head_gradient(net: NetworkSpec, start: int, x: np.ndarray, t, h: float, threads) -> dict:
    """The fast path for layers ``start``, ``start + 1``, ... on their cached input ``x``."""
    weights, biases, activations, names = [], [], [], []
    for k, layer in enumerate(net.layers[start:], start):
        if layer.kind == "affine":
            if k > start and net.layers[k - 1].kind == "affine":
                activations.append("identity")  # two Affines in a row
            (w_name, W), (b_name, b) = layer.params.items()
            weights.append(W)
            biases.append(b)
            names.append((w_name, b_name))
        else:
            activations.append(layer.kind)
    spec = MLPSpec(weights, biases, activations, net.loss_form, net.weight_decay)
    # the network's own input (a dataset's rows, which recur) is worth caching; a hidden one is not
    found = mlp_numerical_gradient(spec, x, t, h, threads=threads, cache_inputs=start == 0)
    grads = {}
    for (w_name, b_name), W, b, (dW, db) in zip(names, weights, biases, found, strict=True):
        grads[w_name] = dW.astype(W.dtype, copy=False)
        grads[b_name] = db.astype(b.dtype, copy=False)
    return grads
