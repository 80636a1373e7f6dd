"""Layers with forward and backward passes (chapters 5 and 6).

Every layer is a small class in the textbook's shape:

- ``forward(x)`` computes the output and keeps what ``backward`` needs; layers that behave
  differently while training (``Dropout``, ``BatchNormalization``) take ``train`` (the book's
  ``train_flg``), True by default as in the book.
- ``backward(dout)`` takes the gradient of the loss with respect to the output and returns the
  gradient with respect to the input, ``dx``. It never writes into ``dout`` or ``x``.
- ``params`` and ``grads`` are dicts keyed alike (``params["W"]`` / ``grads["W"]``), empty for
  layers without parameters. ``backward`` fills ``grads`` in place: the arrays are buffers reused by
  the next call. ``buffers`` holds state that is saved but not trained (batch-norm running stats).

dtypes: a layer with parameters computes in its parameters' dtype (float32 stays float32; other
inputs are cast once); a layer without parameters keeps the input's float dtype.

Speed: ``Affine``, ``Sigmoid``, ``Relu`` and ``SoftmaxWithLoss`` take ``out=`` in ``forward`` and
``backward`` (the loss layer in ``backward`` only), as NumPy's functions do: the result is written
into that array instead of a new one. Networks pass buffers of their own there, so that a training
step allocates almost nothing. Without ``out`` every call returns a new array, which later calls
never touch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np

from ._checks import as_float_array, as_generator
from .functions import softmax
from .losses import cross_entropy_error, softmax_cross_entropy

__all__ = [
    "Layer",
    "Affine",
    "Sigmoid",
    "Relu",
    "Softmax",
    "SoftmaxWithLoss",
    "Dropout",
    "BatchNormalization",
]


class Layer:
    """Base class: empty ``params``, ``grads`` and ``buffers``, and the checks every layer shares."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _require_forward(self, done: bool) -> None:
        if not done:
            name = type(self).__name__
            raise RuntimeError(
                f"{name}.backward called before {name}.forward: there is nothing to differentiate"
            )

    @staticmethod
    def _check_dout(dout, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dout = as_float_array("dout", dout)
        if dout.shape != shape:
            raise ValueError(
                f"dout: expected shape {shape} (the shape of forward's output), got {dout.shape}"
            )
        return dout.astype(dtype, copy=False)

    @staticmethod
    def _out(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """``out`` checked against the result's shape and dtype, or a new array when it is None."""
        if out is None:
            return np.empty(shape, dtype=dtype)
        if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
            got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(f"out: expected an array of shape {shape} and dtype {dtype}, got {got}")
        return out

    def _grad_buffer(self, key: str) -> np.ndarray:
        """``grads[key]``, reallocated only if it no longer matches ``params[key]``."""
        p, g = self.params[key], self.grads.get(key)
        if g is None or g.shape != p.shape or g.dtype != p.dtype:
            g = self.grads[key] = np.zeros_like(p)
        return g


def _flatten_features(x: np.ndarray, features: int) -> np.ndarray:
    """Reshape (N, ...) to (N, features), with an error in the layer's own terms on a mismatch."""
    if x.ndim < 2:
        raise ValueError(
            f"x: expected shape (N, {features}), got {x.shape}; for one sample use x.reshape(1, -1)"
        )
    if x.ndim == 2 and x.shape[1] != features:
        raise ValueError(f"x: expected (N, {features}), got (N, {x.shape[1]})")
    if math.prod(x.shape[1:]) != features:
        shape = ", ".join(["N", *map(str, x.shape[1:])])
        raise ValueError(f"x: expected (N, {features}) or (N, ...) with {features} features, got ({shape})")
    return x.reshape(x.shape[0], features)


class Affine(Layer):
    """Fully connected layer: ``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray, shape (D, M), float
        Weights. Kept as the same object (not copied) when already a float array, so that a
        network's ``params["W1"]`` and this layer's ``params["W"]`` are one array.
    b : ndarray, shape (M,), W's dtype
        Biases.

    Input (N, ...) with D features per sample is flattened to (N, D), as the textbook's Affine does
    for image batches; ``backward`` returns dx in the original shape.
    """

    def __init__(self, W, b) -> None:
        super().__init__()
        W = as_float_array("W", W)
        if W.ndim != 2:
            raise ValueError(f"W: expected shape (D, M), got {W.shape}")
        b = as_float_array("b", b)
        if b.shape != (W.shape[1],):
            raise ValueError(f"b: expected shape ({W.shape[1]},) (one per column of W), got {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"b: expected the dtype of W ({W.dtype}), got {b.dtype}")
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None

    # The textbook's attribute names.
    W = property(lambda self: self.params["W"])
    b = property(lambda self: self.params["b"])
    dW = property(lambda self: self.grads["W"])
    db = property(lambda self: self.grads["b"])

    def __repr__(self) -> str:
        d, m = self.params["W"].shape
        return f"Affine({d} -> {m})"

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return ``x @ W + b``.

        Parameters
        ----------
        x : array_like, shape (N, D) or (N, ...) with D features per sample
            Cast to W's dtype if it has another one. Kept (not copied) for ``backward``.
        out : ndarray, shape (N, M), W's dtype, optional
            Where to write the result; a new array by default.

        Returns
        -------
        ndarray, shape (N, M), W's dtype (``out`` when given)
        """
        W = self.params["W"]
        x = as_float_array("x", x)
        x2 = x if x.ndim == 2 and x.shape[1] == W.shape[0] else _flatten_features(x, W.shape[0])
        self.original_x_shape = x.shape
        self.x = x2.astype(W.dtype, copy=False)
        out = np.dot(self.x, W, out=self._out(out, (x2.shape[0], W.shape[1]), W.dtype))
        out += self.params["b"]
        return out

    def backward(self, dout, *, input_grad: bool = True, out: np.ndarray | None = None) -> np.ndarray | None:
        """Fill ``grads["W"]`` = x.T @ dout and ``grads["b"]`` = sum of dout; return dx.

        Parameters
        ----------
        dout : array_like, shape (N, M)
        input_grad : bool
            False skips dx (returns None): a network's first layer needs no gradient for its input,
            and dx = dout @ W.T is as costly as the forward pass.
        out : ndarray, shape (N, D), W's dtype, optional
            Where to write dx (in the (N, D) shape even for image input); a new array by default.

        Returns
        -------
        dx : ndarray of the input's original shape, W's dtype (or None)
        """
        self._require_forward(self.x is not None)
        W = self.params["W"]
        dout = self._check_dout(dout, (self.x.shape[0], W.shape[1]), W.dtype)
        np.dot(self.x.T, dout, out=self._grad_buffer("W"))
        np.add.reduce(dout, axis=0, out=self._grad_buffer("b"))
        if not input_grad:
            return None
        dx = np.dot(dout, W.T, out=self._out(out, self.x.shape, W.dtype))
        return dx if dx.shape == self.original_x_shape else dx.reshape(self.original_x_shape)


class Sigmoid(Layer):
    """Logistic activation, ``out = 1 / (1 + exp(-x))``, elementwise; shapes and float dtype kept."""

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return sigmoid(x), elementwise.

        Parameters
        ----------
        x : array_like, any shape, float
        out : ndarray of x's shape and float dtype, optional
            Where to write the result (it may be ``x`` itself); a new array by default. The layer
            keeps the result for ``backward``.

        Returns
        -------
        ndarray of x's shape and dtype (``out`` when given)
        """
        x = as_float_array("x", x)
        out = self._out(out, x.shape, x.dtype)
        np.negative(x, out=out)
        # exp(-x) overflows to inf for x below about -88 (float32) or -709 (float64); 1 / (1 + inf)
        # is then 0, which sigmoid(x) is there to within the dtype's smallest normal number, so
        # the warning says nothing useful.
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
        self.out = out
        return out

    def backward(self, dout, out: np.ndarray | None = None) -> np.ndarray:
        """Return dx = dout * out * (1 - out), of the input's shape and dtype (into ``out`` if given)."""
        self._require_forward(self.out is not None)
        y = self.out
        dout = self._check_dout(dout, y.shape, y.dtype)
        dx = np.subtract(1.0, y, out=self._out(out, y.shape, y.dtype))
        dx *= y
        dx *= dout
        return dx


class Relu(Layer):
    """Rectified linear unit, ``out = max(0, x)``, elementwise; shapes and float dtype kept.

    ``mask`` is True where x <= 0, as in the textbook; the gradient there is 0 (also at x == 0).
    Unlike the textbook's Relu, ``backward`` never writes into ``dout``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._keep: np.ndarray | None = None  # x > 0: a buffer reused by the next forward

    @property
    def mask(self) -> np.ndarray | None:
        """The textbook's mask of the last forward: True where x <= 0 (a new array)."""
        return None if self._keep is None else ~self._keep

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return max(0, x).

        Parameters
        ----------
        x : array_like, any shape, float
        out : ndarray of x's shape and float dtype, optional
            Where to write the result; a new array by default.
        """
        x = as_float_array("x", x)
        keep = self._keep
        if keep is None or keep.shape != x.shape:
            keep = self._keep = np.empty(x.shape, dtype=bool)
        np.greater(x, 0, out=keep)
        return np.maximum(x, 0, out=self._out(out, x.shape, x.dtype))

    def backward(self, dout, out: np.ndarray | None = None) -> np.ndarray:
        """Return dx: dout where x > 0, else 0 (into ``out`` if given)."""
        self._require_forward(self._keep is not None)
        dout = as_float_array("dout", dout)
        if dout.shape != self._keep.shape:
            raise ValueError(
                f"dout: expected shape {self._keep.shape} (the shape of forward's output), got {dout.shape}"
            )
        # A product with the 0/1 mask: half the cost of np.where (inf or NaN in dout at a dropped
        # unit gives NaN instead of 0; the loss is then not finite anyway).
        return np.multiply(dout, self._keep, out=self._out(out, dout.shape, dout.dtype))


class Softmax(Layer):
    """Softmax over the last axis, as a layer of its own (``SoftmaxWithLoss`` fuses it with the loss).

    Input (..., C), float; output of the same shape and dtype, each row summing to 1.
    """

    def __init__(self) -> None:
        super().__init__()
        self.y: np.ndarray | None = None

    def forward(self, x) -> np.ndarray:
        """Return softmax(x) along the last axis."""
        self.y = softmax(x, axis=-1)
        return self.y

    def backward(self, dout) -> np.ndarray:
        """Return dx = y * (dout - sum(dout * y)) along the last axis: the softmax Jacobian times dout."""
        self._require_forward(self.y is not None)
        y = self.y
        dout = self._check_dout(dout, y.shape, y.dtype)
        dx = dout - np.sum(dout * y, axis=-1, keepdims=True)
        dx *= y
        return dx


class SoftmaxWithLoss(Layer):
    """Softmax followed by the cross-entropy loss: the last layer of a classifier.

    Parameters
    ----------
    form : {"fused", "textbook"}
        ``"fused"`` (default) computes the loss by log-sum-exp (``softmax_cross_entropy``): finite
        for any logits. ``"textbook"`` is the book's ``cross_entropy_error(softmax(x), t)`` with its
        ``log(y + 1e-7)``; use it to reproduce the book's printed numbers. Both have the book's
        backward, (y - t) / N, which leaves the delta out: a numerical check of the textbook form
        therefore differs by about 1e-7 / y relatively (the book's b2 difference of 1.41e-07).

    ``forward(x, t)`` takes scores x of shape (N, C) and teacher t: integer labels (N,) or one-hot
    (N, C) (rows of soft targets must sum to 1). It returns the mean loss over the batch as a float.
    """

    FORMS = ("fused", "textbook")

    def __init__(self, form: str = "fused") -> None:
        super().__init__()
        if form not in self.FORMS:
            raise ValueError(f"form: expected one of {self.FORMS}, got {form!r}")
        self.form = form
        self.loss: float | None = None
        self.t: np.ndarray | None = None
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None
        # The fused form with labels keeps exp(x - max) and its row sums (buffers reused by the
        # next forward): y is their quotient, computed only if someone asks for it.
        self._e: np.ndarray | None = None
        self._sums: np.ndarray | None = None
        self._e_buffers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._rows = np.arange(0)

    @property
    def y(self) -> np.ndarray | None:
        """softmax(x) of the last forward (N, C); computed on first use, as only backward needs it."""
        if self._y is None:
            if self._e is not None:
                self._y = self._e / self._sums
            elif self._x is not None:
                self._y = softmax(self._x, axis=1)
        return self._y

    def __repr__(self) -> str:
        return f"SoftmaxWithLoss(form={self.form!r})"

    def forward(self, x, t) -> float:
        """Return the mean cross-entropy of softmax(x) against t.

        Parameters
        ----------
        x : array_like, shape (N, C), float
            Scores (logits). Kept (not copied) for ``backward``.
        t : array_like
            Integer labels of shape (N,) in [0, C), or one-hot targets of shape (N, C).

        Returns
        -------
        float
        """
        x = as_float_array("x", x)
        if x.ndim != 2:
            raise ValueError(f"x: expected scores of shape (N, C), got {x.shape}")
        self._x, self._y, self._e = x, None, None
        t = np.asarray(t)
        n, c = x.shape
        if self.form == "fused" and _valid_labels(t, n, c):
            self.t = t.astype(np.intp, copy=False)
            self.loss = self._fused_labels_loss(x, self.t)
            return self.loss
        # One-hot targets, the textbook's form, or a bad t: the loss functions validate t (shape,
        # label range) and say what is wrong with it.
        if self.form == "fused":
            self.loss = softmax_cross_entropy(x, t)
        else:
            self._y = softmax(x, axis=1)
            self.loss = cross_entropy_error(self._y, t)
        self.t = t.astype(x.dtype, copy=False) if t.shape == x.shape else t.astype(np.intp, copy=False)
        return self.loss

    def _fused_labels_loss(self, x: np.ndarray, labels: np.ndarray) -> float:
        """``softmax_cross_entropy(x, labels)`` bit for bit, keeping exp(x - max) for backward."""
        n, c = x.shape
        e, sums, xt = self._exp_buffers(n, c, x.dtype)
        # Shift each row by its maximum, as log_softmax does, so that exp stays in (0, 1]. The
        # maxima are taken down the columns of a transposed copy: c vectorised passes instead of
        # n reductions of c numbers each, many times faster for 10 classes (and exact all the same).
        np.copyto(xt, x.T)
        m = np.maximum.reduce(xt, axis=0)
        np.subtract(x, m[:, None], out=e)
        picked = e[self._row_index(n), labels]
        np.exp(e, out=e)
        np.add.reduce(e, axis=1, out=sums)
        # -(picked - log(sum)) is log(sum) - picked, exactly.
        total = np.add.reduce(np.subtract(np.log(sums), picked, out=picked))
        loss = float(total / n)
        if not math.isfinite(loss):
            # An infinite or NaN maximum (log_softmax leaves such rows unshifted), or a truly
            # infinite loss: redo it the reference way, which handles every case.
            self._e = None
            return softmax_cross_entropy(x, labels)
        self._e, self._sums = e, sums[:, None]
        return loss

    def _exp_buffers(self, n: int, c: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bufs = self._e_buffers
        if bufs is None or bufs[0].shape != (n, c) or bufs[0].dtype != dtype:
            bufs = self._e_buffers = (np.empty((n, c), dtype), np.empty(n, dtype), np.empty((c, n), dtype))
        return bufs

    def _row_index(self, n: int) -> np.ndarray:
        if self._rows.size != n:
            self._rows = np.arange(n)
        return self._rows

    def backward(self, dout=1.0, out: np.ndarray | None = None) -> np.ndarray:
        """Return dx = dout * (y - t) / N, shape (N, C), the dtype of x.

        Parameters
        ----------
        dout : float
            The gradient arriving at the loss (1 when the loss is the final output).
        out : ndarray, shape (N, C), the dtype of x, optional
            Where to write dx; a new array by default.
        """
        self._require_forward(self._x is not None)
        dout = np.asarray(dout)
        if dout.ndim != 0:
            raise ValueError(f"dout: expected a scalar (the loss is a number), got shape {dout.shape}")
        x, t = self._x, self.t
        n = x.shape[0]
        dx = self._out(out, x.shape, x.dtype)
        if self._y is None and self._e is not None:
            np.divide(self._e, self._sums, out=dx)  # y, straight into dx
        else:
            np.copyto(dx, self.y)
        if t.ndim == 1:
            dx[self._row_index(n), t] -= 1
        else:
            dx -= t
        dx *= float(dout) / n
        return dx


def _valid_labels(t: np.ndarray, n: int, c: int) -> bool:
    """True for N integer labels in [0, C) (cheaply: the hot path of every training step)."""
    if t.shape != (n,) or t.dtype.kind not in "iu" or n == 0:
        return False
    return bool(t.max() < c) and (t.dtype.kind == "u" or bool(t.min() >= 0))


class Dropout(Layer):
    """Dropout: in training, zero each input with probability ``dropout_ratio``.

    Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
    https://jmlr.org/papers/v15/srivastava14a.html

    Parameters
    ----------
    dropout_ratio : float in [0, 1)
        Probability of dropping a unit.
    inverted : bool
        True (default): scale kept units by 1 / (1 - ratio) while training, so that inference is
        the identity. False: the textbook's form, which keeps units unscaled while training and
        multiplies by (1 - ratio) at inference. Both have the same expected output.
    seed : int, numpy.random.Generator or None
        Source of the masks. A Generator is used as it is (a network shares its own).

    Input and output: any shape, float; dtype kept. ``mask`` (bool, True = kept) is the last mask.
    """

    def __init__(self, dropout_ratio: float = 0.5, *, inverted: bool = True, seed=None) -> None:
        super().__init__()
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"dropout_ratio: expected a value in [0, 1), got {dropout_ratio}")
        self.dropout_ratio = float(dropout_ratio)
        self.inverted = bool(inverted)
        self.rng = as_generator("seed", seed)
        self.mask: np.ndarray | None = None
        self._factor: np.ndarray | None = None  # mask * scale in the input's dtype, or None after inference
        self._keep_mask = False
        self._forwarded = False

    def __repr__(self) -> str:
        return f"Dropout(dropout_ratio={self.dropout_ratio}, inverted={self.inverted})"

    @contextlib.contextmanager
    def fixed_mask(self) -> Iterator[Dropout]:
        """Within this block, training-mode forward reuses the last mask instead of drawing one.

        A gradient check evaluates forward many times and needs the same function every time
        (``check_layer`` and a network's ``numerical_gradient`` use this). Drawing resumes after it.
        """
        previous, self._keep_mask = self._keep_mask, True
        try:
            yield self
        finally:
            self._keep_mask = previous

    def forward(self, x, train: bool = True) -> np.ndarray:
        """Return x with dropped units zeroed (training) or the inference output (train=False).

        Parameters
        ----------
        x : array_like, any shape, float
        train : bool
            The textbook's ``train_flg``. With ``inverted`` (default) inference returns ``x``
            itself, not a copy.

        Returns
        -------
        ndarray of x's shape and dtype
        """
        x = as_float_array("x", x)
        self._forwarded = True
        if not train:
            self._factor = None
            return x if self.inverted else x * (1.0 - self.dropout_ratio)
        if not (self._keep_mask and self.mask is not None and self.mask.shape == x.shape):
            # Uniforms are drawn in float64 whatever x's dtype, so float32 and float64 nets built
            # from one seed drop the same units.
            self.mask = self.rng.random(x.shape) >= self.dropout_ratio
        scale = 1.0 / (1.0 - self.dropout_ratio) if self.inverted else 1.0
        self._factor = self.mask.astype(x.dtype)
        self._factor *= scale
        return x * self._factor

    def backward(self, dout) -> np.ndarray:
        """Return dx: dout through the same mask and scale as the last forward."""
        self._require_forward(self._forwarded)
        dout = as_float_array("dout", dout)
        if self._factor is None:
            return dout if self.inverted else dout * (1.0 - self.dropout_ratio)
        if dout.shape != self._factor.shape:
            raise ValueError(
                f"dout: expected shape {self._factor.shape} (the shape of forward's output), got {dout.shape}"
            )
        return dout * self._factor


class BatchNormalization(Layer):
    """Batch normalization: normalize each feature over the batch, then scale by gamma and shift by beta.

    Ioffe and Szegedy 2015, "Batch Normalization: Accelerating Deep Network Training by Reducing
    Internal Covariate Shift", https://arxiv.org/abs/1502.03167

    Parameters
    ----------
    gamma, beta : ndarray, shape (D,), float
        Scale and shift (kept as the same objects, like Affine's W and b).
    momentum : float
        running = momentum * running + (1 - momentum) * batch statistic, as in the textbook.
    running_mean, running_var : ndarray, shape (D,), optional
        Statistics used at inference; zeros and ones by default (the textbook starts the variance
        at zeros, which makes early inference outputs blow up).
    eps : float
        Added to the variance; the textbook's ``10e-7``.

    Input (N, D) or (N, ...) with D features (flattened as Affine does); output of the input's
    shape, gamma's dtype. The batch variance is the biased one (divided by N), as in the textbook.
    """

    def __init__(self, gamma, beta, momentum: float = 0.9, running_mean=None, running_var=None,
                 *, eps: float = 1e-6) -> None:
        super().__init__()
        gamma = as_float_array("gamma", gamma)
        if gamma.ndim != 1:
            raise ValueError(f"gamma: expected shape (D,), got {gamma.shape}")
        d, dtype = gamma.shape[0], gamma.dtype
        beta = as_float_array("beta", beta)
        if beta.shape != gamma.shape or beta.dtype != dtype:
            raise ValueError(
                f"beta: expected shape {gamma.shape} and dtype {dtype}, got {beta.shape} {beta.dtype}"
            )
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum: expected a value in [0, 1], got {momentum}")
        if not eps > 0:
            raise ValueError(f"eps: expected a positive number, got {eps}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.params = {"gamma": gamma, "beta": beta}
        self.grads = {"gamma": np.zeros_like(gamma), "beta": np.zeros_like(beta)}
        stats = {"running_mean": (running_mean, np.zeros), "running_var": (running_var, np.ones)}
        for name, (value, default) in stats.items():
            arr = default(d, dtype=dtype) if value is None else np.array(value, dtype=dtype)
            if arr.shape != (d,):
                raise ValueError(f"{name}: expected shape ({d},), got {arr.shape}")
            self.buffers[name] = arr
        self.input_shape: tuple[int, ...] | None = None
        self.xn: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.train_flg = True

    gamma = property(lambda self: self.params["gamma"])
    beta = property(lambda self: self.params["beta"])
    dgamma = property(lambda self: self.grads["gamma"])
    dbeta = property(lambda self: self.grads["beta"])
    running_mean = property(lambda self: self.buffers["running_mean"])
    running_var = property(lambda self: self.buffers["running_var"])

    def __repr__(self) -> str:
        d = self.params["gamma"].shape[0]
        return f"BatchNormalization({d}, momentum={self.momentum}, eps={self.eps})"

    def forward(self, x, train: bool = True) -> np.ndarray:
        """Normalize with the batch's statistics (train, updating the running ones) or the running ones.

        Parameters
        ----------
        x : array_like, shape (N, D) or (N, ...) with D features; cast to gamma's dtype.
        train : bool
            The textbook's ``train_flg``.

        Returns
        -------
        ndarray of x's shape, gamma's dtype
        """
        gamma = self.params["gamma"]
        x = as_float_array("x", x)
        x2 = _flatten_features(x, gamma.shape[0]).astype(gamma.dtype, copy=False)
        self.input_shape = x.shape
        self.train_flg = bool(train)
        if train:
            mu = x2.mean(axis=0)
            xc = x2 - mu
            var = np.mean(xc * xc, axis=0)
            for buf, batch in ((self.buffers["running_mean"], mu), (self.buffers["running_var"], var)):
                buf *= self.momentum
                buf += (1.0 - self.momentum) * batch
        else:
            xc = x2 - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        self.std = np.sqrt(var + self.eps)
        self.xn = xc
        self.xn /= self.std
        out = gamma * self.xn
        out += self.params["beta"]
        return out.reshape(x.shape)

    def backward(self, dout) -> np.ndarray:
        """Fill ``grads["gamma"]``, ``grads["beta"]``; return dx of the input's shape."""
        self._require_forward(self.xn is not None)
        xn = self.xn
        dout = self._check_dout(dout, self.input_shape, xn.dtype).reshape(xn.shape)
        np.sum(dout, axis=0, out=self._grad_buffer("beta"))
        np.sum(xn * dout, axis=0, out=self._grad_buffer("gamma"))
        dxn = self.params["gamma"] * dout
        if self.train_flg:
            # Every sample also moves the batch mean and variance that normalised all the others;
            # differentiating through them collapses the textbook's chain of steps into this.
            dx = dxn - dxn.mean(axis=0)
            dx -= xn * np.mean(dxn * xn, axis=0)
        else:
            dx = dxn
        dx /= self.std
        return dx.reshape(self.input_shape)


# --------------------------------------------------------------------- chapter 7: convolution layers
# Kept at the end of the module; the fast forms of im2col/col2im they use live in scratchnet._conv.
from . import _conv  # noqa: E402
from .util import conv_output_size  # noqa: E402

__all__ += ["Convolution", "Pooling"]


def _check_image_input(x, channels: int, dtype: np.dtype) -> np.ndarray:
    x = as_float_array("x", x)
    if x.ndim != 4:
        raise ValueError(f"x: expected images of shape (N, {channels}, H, W), got {x.shape}")
    if x.shape[1] != channels:
        raise ValueError(f"x: expected {channels} channels, shape (N, {channels}, H, W), got {x.shape}")
    return x.astype(dtype, copy=False)


def _check_out_contiguous(out: np.ndarray) -> np.ndarray:
    if not out.flags.c_contiguous:
        raise ValueError("out: expected a C-contiguous array")
    return out


class Convolution(Layer):
    """2-D convolution (cross-correlation, as in the textbook) of NCHW images with FN filters.

    Parameters
    ----------
    W : ndarray, shape (FN, C, FH, FW), float
        Filters, kept as the same object (like Affine's W).
    b : ndarray, shape (FN,), W's dtype
    stride : int >= 1
    pad : int >= 0
        Zeros added around H and W.

    ``forward`` takes x (N, C, H, W) and returns (N, FN, OH, OW) with
    OH = (H + 2*pad - FH) / stride + 1 (likewise OW); sizes that do not tile raise ValueError.
    Computed as im2col and one matmul per sample (LeCun et al. 1998,
    http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf).
    """

    def __init__(self, W, b, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        W = as_float_array("W", W)
        if W.ndim != 4:
            raise ValueError(f"W: expected filters of shape (FN, C, FH, FW), got {W.shape}")
        b = as_float_array("b", b)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b: expected shape ({W.shape[0]},) (one per filter of W), got {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"b: expected the dtype of W ({W.dtype}), got {b.dtype}")
        for name, value, low in (("stride", stride, 1), ("pad", pad, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        self.stride, self.pad = int(stride), int(pad)
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.x: np.ndarray | None = None
        self._col: np.ndarray | None = None  # (N, C*FH*FW, OH*OW), reused by the next forward
        self._pad_buf: np.ndarray | None = None
        self._dcol: np.ndarray | None = None
        self._dw_parts: np.ndarray | None = None
        self._dx_bufs: dict[str, np.ndarray] = {}

    W = property(lambda self: self.params["W"])
    b = property(lambda self: self.params["b"])
    dW = property(lambda self: self.grads["W"])
    db = property(lambda self: self.grads["b"])

    def __repr__(self) -> str:
        fn, c, fh, fw = self.params["W"].shape
        return f"Convolution({c} -> {fn}, {fh}x{fw}, stride={self.stride}, pad={self.pad})"

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return the convolution of x with the filters, plus b.

        Parameters
        ----------
        x : array_like, shape (N, C, H, W); cast to W's dtype. Kept for ``backward``.
        out : ndarray, shape (N, FN, OH, OW), W's dtype, C-contiguous, optional

        Returns
        -------
        ndarray, shape (N, FN, OH, OW), W's dtype (``out`` when given)
        """
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        x = _check_image_input(x, c, W.dtype)
        n, _, h, w = x.shape
        oh = conv_output_size(h, fh, self.stride, self.pad)
        ow = conv_output_size(w, fw, self.stride, self.pad)
        xp, self._pad_buf = _conv.padded(x, self.pad, self._pad_buf)
        self._col = _conv.im2col_t(xp, fh, fw, self.stride, oh, ow, out=self._col)
        out = _check_out_contiguous(self._out(out, (n, fn, oh, ow), W.dtype))
        np.matmul(W.reshape(fn, -1), self._col, out=out.reshape(n, fn, oh * ow))
        out += self.params["b"][:, None, None]
        self.x = x
        return out

    def backward(self, dout, *, input_grad: bool = True, out: np.ndarray | None = None) -> np.ndarray | None:
        """Fill ``grads["W"]`` and ``grads["b"]``; return dx (N, C, H, W), or None if not input_grad.

        Parameters
        ----------
        dout : array_like, shape (N, FN, OH, OW)
        input_grad : bool
            False skips dx (a network's first layer needs none), as Affine's does.
        out : ndarray, shape (N, C, H, W), W's dtype, C-contiguous, optional
        """
        self._require_forward(self.x is not None)
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        n, p = self.x.shape[0], self._col.shape[2]
        oh = (self.x.shape[2] + 2 * self.pad - fh) // self.stride + 1
        dout = self._check_dout(dout, (n, fn, oh, p // oh), W.dtype)
        d3 = np.ascontiguousarray(dout).reshape(n, fn, p)
        # dW = sum over samples of dout_n @ col_n.T: one small matmul per sample, then one sum.
        parts = self._dw_parts
        if parts is None or parts.shape != (n, fn, self._col.shape[1]) or parts.dtype != W.dtype:
            parts = self._dw_parts = np.empty((n, fn, self._col.shape[1]), dtype=W.dtype)
        np.matmul(d3, self._col.transpose(0, 2, 1), out=parts)
        np.add.reduce(parts, axis=0, out=self._grad_buffer("W").reshape(fn, -1))
        np.add.reduce(d3.sum(axis=2), axis=0, out=self._grad_buffer("b"))
        if not input_grad:
            return None
        if self.stride == 1 and self.pad < fh and self.pad < fw:
            dx = _check_out_contiguous(self._out(out, self.x.shape, W.dtype))
            return _conv.input_grad_stride1(dout, W, self.pad, dx, self._dx_bufs)
        dcol = self._dcol
        if dcol is None or dcol.shape != self._col.shape or dcol.dtype != W.dtype:
            dcol = self._dcol = np.empty_like(self._col)
        np.matmul(W.reshape(fn, -1).T, d3, out=dcol)
        h, w = self.x.shape[2:]
        if self.pad == 0:
            dx = _check_out_contiguous(self._out(out, self.x.shape, W.dtype))
            return _conv.col2im_t(dcol, self.x.shape, fh, fw, self.stride, out=dx)
        padded_shape = (n, c, h + 2 * self.pad, w + 2 * self.pad)
        dxp = _conv.col2im_t(dcol, padded_shape, fh, fw, self.stride)
        dx = self._out(out, self.x.shape, W.dtype)
        np.copyto(dx, _conv.unpadded(dxp, self.pad))
        return dx


class Pooling(Layer):
    """Max pooling over pool_h x pool_w windows of NCHW images; overlapping windows allowed.

    Parameters
    ----------
    pool_h, pool_w : int >= 1
    stride : int >= 1
    pad : int >= 0
        Zeros added around H and W before pooling, as the textbook's im2col does.

    ``forward`` takes x (N, C, H, W), float, and returns (N, C, OH, OW) in x's dtype,
    OH = (H + 2*pad - pool_h) / stride + 1; ``backward`` sends each output's gradient to the
    first maximum of its window (the textbook's argmax).
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        super().__init__()
        for name, value, low in (("pool_h", pool_h, 1), ("pool_w", pool_w, 1), ("stride", stride, 1),
                                 ("pad", pad, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        self.pool_h, self.pool_w, self.stride, self.pad = int(pool_h), int(pool_w), int(stride), int(pad)
        self.x: np.ndarray | None = None
        self._xp: np.ndarray | None = None
        self._pad_buf: np.ndarray | None = None
        self._max: np.ndarray | None = None
        self._masks: tuple[np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"Pooling({self.pool_h}x{self.pool_w}, stride={self.stride}, pad={self.pad})"

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return the maximum of each window.

        Parameters
        ----------
        x : array_like, shape (N, C, H, W), float. Kept for ``backward``.
        out : ndarray, shape (N, C, OH, OW), x's dtype, optional

        Returns
        -------
        ndarray, shape (N, C, OH, OW), x's dtype (``out`` when given)
        """
        x = as_float_array("x", x)
        if x.ndim != 4:
            raise ValueError(f"x: expected images of shape (N, C, H, W), got {x.shape}")
        n, c, h, w = x.shape
        oh = conv_output_size(h, self.pool_h, self.stride, self.pad)
        ow = conv_output_size(w, self.pool_w, self.stride, self.pad)
        self._xp, self._pad_buf = _conv.padded(x, self.pad, self._pad_buf)
        out = self._out(out, (n, c, oh, ow), x.dtype)
        _conv.max_pool(self._xp, self.pool_h, self.pool_w, self.stride, oh, ow, out)
        # backward compares against the maxima: keep a copy, as the caller may reuse ``out``.
        if self._max is None or self._max.shape != out.shape or self._max.dtype != out.dtype:
            self._max = np.empty_like(out)
        np.copyto(self._max, out)
        self.x = x
        return out

    def backward(self, dout, out: np.ndarray | None = None) -> np.ndarray:
        """Return dx (N, C, H, W): dout at each window's first maximum, summed where windows overlap."""
        self._require_forward(self.x is not None)
        m = self._max
        dout = self._check_dout(dout, m.shape, m.dtype)
        masks = self._masks
        if masks is None or masks[0].shape != m.shape:
            masks = self._masks = (np.empty(m.shape, dtype=bool), np.empty(m.shape, dtype=bool))
        if self.pad == 0:
            dx = self._out(out, self.x.shape, m.dtype)
            return _conv.max_pool_backward(self._xp, m, dout, self.pool_h, self.pool_w, self.stride,
                                           dx, *masks)
        dxp = _conv.max_pool_backward(self._xp, m, dout, self.pool_h, self.pool_w, self.stride,
                                      np.empty(self._xp.shape, dtype=m.dtype), *masks)
        dx = self._out(out, self.x.shape, m.dtype)
        np.copyto(dx, _conv.unpadded(dxp, self.pad))
        return dx
