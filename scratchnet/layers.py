"""Layers with forward and backward passes (chapters 5 and 6), each a small class in the textbook's shape.

- ``forward(x)`` computes the output and keeps what ``backward`` needs; ``Dropout`` and
  ``BatchNormalization`` also take ``train`` (the book's ``train_flg``), True by default.
- ``backward(dout)`` returns dx, the gradient with respect to the input; it never writes into
  ``dout`` or ``x``.
- ``params`` and ``grads`` are dicts keyed alike (``params["W"]`` / ``grads["W"]``). A standalone
  layer's ``backward`` puts new gradient arrays in ``grads`` (as the book's layers rebind ``dW``, so
  an array a caller kept stays valid); in a network (``Sequential`` adopts its layers) it writes
  into the network's gradient buffers. ``buffers`` holds saved state that is not trained.
- Parameters are assignable by the book's names (``layer.W = ...``): a standalone layer holds the
  very array assigned; in a network the values are copied into the array the network holds.
- dtypes: a layer with parameters computes in its parameters' dtype; one without keeps the input's.
- ``Affine``, ``Sigmoid``, ``Relu`` and ``SoftmaxWithLoss`` take ``out=`` (where to write the result),
  as NumPy's functions do. Their public methods check, then run the unchecked ``_forward`` /
  ``_backward``, which a network's fast step (:mod:`scratchnet._fast_step`) calls directly once it
  has checked a batch shape. The buffers and fused paths live in :mod:`scratchnet._kernels`; why
  and how fast: docs/speed.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ._checks import (
    as_float_array,
    as_generator,
    check_bool,
    check_nonempty_batch,
    check_positive,
    check_ratio,
    check_real,
    label_column_as_vector,
)
from ._kernels import FusedSoftmaxLoss, check_dout, flatten_features, out_array, sigmoid_into, valid_labels
from .functions import softmax
from .losses import cross_entropy_error, softmax_cross_entropy

__all__ = [
    "np",
    "Layer",
    "Affine",
    "Sigmoid",
    "Relu",
    "Softmax",
    "SoftmaxWithLoss",
    "Dropout",
    "BatchNormalization",
]


def train_flag(train: bool, train_flg: bool | None) -> bool:
    """``train``, or the book's ``train_flg`` when that keyword was given."""
    return bool(train if train_flg is None else train_flg)


class Layer:
    """Base class: empty ``params``, ``grads`` and ``buffers``, and the checks every layer shares."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.adopted = False  # set by a network that shares this layer's arrays (Sequential)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _require_forward(self, done: bool) -> None:
        if not done:
            name = type(self).__name__
            raise RuntimeError(
                f"{name}.backward called before {name}.forward: there is nothing to differentiate"
            )

    @staticmethod
    def _check_dout(dout, shape: tuple[int, ...], dtype: np.dtype | None = None) -> np.ndarray:
        """``dout`` checked against forward's output shape, cast to ``dtype`` (kept if None)."""
        return check_dout(dout, shape, dtype)

    @staticmethod
    def _out(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """``out`` checked against the result's shape and dtype, or a new array when it is None."""
        return out_array(out, shape, dtype)

    def _grad_buffer(self, key: str) -> np.ndarray:
        """The array backward writes ``grads[key]`` into.

        In a network: ``grads[key]`` itself (the network's buffer), reallocated only if it no longer
        matches ``params[key]``. Standalone: a new array, so a gradient a caller holds is never
        overwritten (the book's layers rebind ``self.dW`` on every backward).
        """
        p, g = self.params[key], self.grads.get(key)
        if not self.adopted or g is None or g.shape != p.shape or g.dtype != p.dtype:
            g = self.grads[key] = np.empty_like(p)
        return g

    def _set_array(self, store: dict[str, np.ndarray], key: str, value) -> None:
        """``layer.W = value`` (and the like), after checking the shape (ValueError naming ``key``).

        Standalone: ``store[key]`` becomes ``value`` itself when it is a float array, as the book's
        plain attribute does (a student's ``params[...]`` and the layer stay one array). In a network:
        the values are copied into ``store[key]``, so network, layer and optimiser still share it.
        """
        value = as_float_array(key, value)
        if value.shape != store[key].shape:
            raise ValueError(f"{key}: expected shape {store[key].shape}, got {value.shape}")
        if self.adopted:
            np.copyto(store[key], value, casting="same_kind")
        else:
            store[key] = value


class Affine(Layer):
    """Fully connected layer: ``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray, shape (D, M), float
        Weights, kept as the same object (a network's ``params["W1"]`` is this layer's ``W``).
    b : ndarray, shape (M,), W's dtype
        Biases.

    Input (N, D), or (N, ...) with D features per sample, flattened to (N, D) as the book's Affine
    does; ``backward`` returns dx in the input's shape. ``forward``/``backward`` take ``out=``.
    """

    def __init__(self, W, b) -> None:
        super().__init__()
        W, b = as_float_array("W", W), as_float_array("b", b)
        if W.ndim != 2:
            raise ValueError(f"W: expected shape (D, M), got {W.shape}")
        if b.shape != (W.shape[1],):
            raise ValueError(f"b: expected shape ({W.shape[1]},) (one per column of W), got {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"b: expected the dtype of W ({W.dtype}), got {b.dtype}")
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        d, m = self.params["W"].shape
        return f"Affine({d} -> {m})"

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return ``x @ W + b``, shape (N, M), W's dtype (x is cast to it and kept for backward)."""
        W = self.params["W"]
        x = as_float_array("x", x)
        x2 = flatten_features(x, W.shape[0]).astype(W.dtype, copy=False)
        out = self._out(out, (x2.shape[0], W.shape[1]), W.dtype)
        out = self._forward(x2, out)  # only once x and out are known to fit
        self.original_x_shape = x.shape
        return out

    def _forward(self, x2: np.ndarray, out: np.ndarray) -> np.ndarray:
        """forward on checked arrays: x2 (N, D) in W's dtype, out (N, M)."""
        self.x = x2
        np.dot(x2, self.params["W"], out=out)
        out += self.params["b"]
        return out

    def backward(self, dout, *, input_grad: bool = True, out: np.ndarray | None = None) -> np.ndarray | None:
        """Fill ``grads["W"]`` = x.T @ dout and ``grads["b"]`` = sum of dout; return dx = dout @ W.T.

        dout: shape (N, M). ``input_grad=False`` skips dx and returns None (a network's first layer
        needs no gradient for its input data). ``out``: where to write dx, shape (N, D).
        """
        self._require_forward(self.x is not None)
        W = self.params["W"]
        dout = self._check_dout(dout, (self.x.shape[0], W.shape[1]), W.dtype)
        out = self._out(out, self.x.shape, W.dtype) if input_grad else None
        dx = self._backward(dout, out, self._grad_buffer("W"), self._grad_buffer("b"))
        if dx is None or dx.shape == self.original_x_shape:
            return dx
        return dx.reshape(self.original_x_shape)

    def _backward(self, dout: np.ndarray, out: np.ndarray | None, dW: np.ndarray, db: np.ndarray):
        """backward on checked arrays: dW and db filled, dx into ``out`` (skipped if None)."""
        np.dot(self.x.T, dout, out=dW)
        np.add.reduce(dout, axis=0, out=db)
        return None if out is None else np.dot(dout, self.params["W"].T, out=out)

    # The textbook's attribute names; assignment as Layer._set_array says.
    W = property(lambda self: self.params["W"], lambda self, v: self._set_array(self.params, "W", v))
    b = property(lambda self: self.params["b"], lambda self, v: self._set_array(self.params, "b", v))
    dW = property(lambda self: self.grads["W"])
    db = property(lambda self: self.grads["b"])


class Sigmoid(Layer):
    """Logistic activation, ``out = 1 / (1 + exp(-x))``, elementwise; shape and float dtype kept."""

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return sigmoid(x) (into ``out``, which may be x itself, if given); kept for backward."""
        x = as_float_array("x", x)
        return self._forward(x, self._out(out, x.shape, x.dtype))

    def _forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        self.out = sigmoid_into(x, out)
        return out

    def backward(self, dout, out: np.ndarray | None = None) -> np.ndarray:
        """Return dx = dout * out * (1 - out), of the input's shape and dtype (into ``out`` if given)."""
        self._require_forward(self.out is not None)
        y = self.out
        dout = self._check_dout(dout, y.shape, y.dtype)
        return self._backward(dout, self._out(out, y.shape, y.dtype))

    def _backward(self, dout: np.ndarray, out: np.ndarray) -> np.ndarray:
        y = self.out
        dx = np.subtract(1.0, y, out=out)
        dx *= y
        dx *= dout
        return dx


class Relu(Layer):
    """Rectified linear unit, ``out = max(0, x)``, elementwise; shape and float dtype kept.

    ``mask`` is True where x <= 0, as in the textbook; the gradient there is 0 (also at x == 0).
    Unlike the textbook's Relu, ``backward`` never writes into ``dout``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._keep: np.ndarray | None = None  # x > 0, a buffer reused by the next forward

    @property
    def mask(self) -> np.ndarray | None:
        """The textbook's mask of the last forward: True where x <= 0 (a new array)."""
        return None if self._keep is None else ~self._keep

    def forward(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """Return max(0, x) (into ``out`` if given)."""
        x = as_float_array("x", x)
        return self._forward(x, self._out(out, x.shape, x.dtype))  # checked before the mask changes

    def _forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self._keep is None or self._keep.shape != x.shape:
            self._keep = np.empty(x.shape, dtype=bool)
        np.greater(x, 0, out=self._keep)
        return np.maximum(x, 0, out=out)

    def backward(self, dout, out: np.ndarray | None = None) -> np.ndarray:
        """Return dx: dout where x > 0, else 0 (into ``out`` if given)."""
        self._require_forward(self._keep is not None)
        dout = self._check_dout(dout, self._keep.shape)
        return self._backward(dout, self._out(out, dout.shape, dout.dtype))

    def _backward(self, dout: np.ndarray, out: np.ndarray) -> np.ndarray:
        # A product with the 0/1 mask: cheaper than np.where (see docs/speed.md).
        return np.multiply(dout, self._keep, out=out)


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

    ``forward(x, t)`` takes scores x (N, C) and teacher t, integer labels (N,) (or (N, 1), as the
    book's chapter 7 passes them) or one-hot (N, C) (soft targets' rows sum to 1), and returns
    the mean loss over the batch as a float.

    Parameters
    ----------
    form : {"fused", "textbook"}
        ``"fused"`` (default): the loss by log-sum-exp (``softmax_cross_entropy``), finite for any
        logits. ``"textbook"``: the book's ``cross_entropy_error(softmax(x), t)`` with its
        ``log(y + 1e-7)``, to reproduce the book's printed numbers. Both have the book's backward,
        (y - t) / N.
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
        self._fused = FusedSoftmaxLoss()  # keeps exp(x - max): y is computed only if asked for

    @property
    def y(self) -> np.ndarray | None:
        """softmax(x) of the last forward, (N, C), computed on first use."""
        if self._y is None and self._x is not None:
            self._y = self._fused.softmax() if self._fused.e is not None else softmax(self._x, axis=1)
        return self._y

    def __repr__(self) -> str:
        return f"SoftmaxWithLoss(form={self.form!r})"

    def forward(self, x, t) -> float:
        """Return the mean cross-entropy of softmax(x) against t; x (N, C) is kept for backward."""
        x = as_float_array("x", x)
        if x.ndim != 2:
            raise ValueError(f"x: expected scores of shape (N, C), got {x.shape}")
        t = label_column_as_vector(np.asarray(t), x.shape)
        # Forget the last forward first: after a refused x or t, backward says there was none.
        self._x = self._y = None
        self._fused.clear()
        if self.form == "fused" and valid_labels(t, *x.shape):
            return self._forward_labels(x, t.astype(np.intp, copy=False))
        # One-hot targets, the textbook's form, or a bad t, which the loss functions explain.
        if self.form == "fused":
            loss, y = softmax_cross_entropy(x, t), None
        else:
            y = softmax(x, axis=1)
            loss = cross_entropy_error(y, t)
        self.t = t.astype(x.dtype, copy=False) if t.shape == x.shape else t.astype(np.intp, copy=False)
        self._x, self._y, self.loss = x, y, loss
        return self.loss

    def _forward_labels(self, x: np.ndarray, labels: np.ndarray) -> float:
        """The fused forward on checked scores x (N, C) and valid intp labels (N,)."""
        self._x = self._y = None
        self.t = labels
        self.loss = self._fused.loss(x, labels)
        self._x = x
        return self.loss

    def backward(self, dout=1.0, out: np.ndarray | None = None) -> np.ndarray:
        """Return dx = dout * (y - t) / N, shape (N, C), x's dtype (into ``out`` if given).

        dout: a scalar, the gradient arriving at the loss (1 when the loss is the final output).
        """
        self._require_forward(self._x is not None)
        dout = np.asarray(dout)
        if dout.ndim != 0:
            raise ValueError(f"dout: expected a scalar (the loss is a number), got shape {dout.shape}")
        return self._backward(float(dout), self._out(out, self._x.shape, self._x.dtype))

    def _backward(self, dout: float, dx: np.ndarray) -> np.ndarray:
        x, t = self._x, self.t
        if self._y is None and self._fused.e is not None:
            self._fused.softmax_into(dx)
        else:
            np.copyto(dx, self.y)
        if t.ndim == 1 and self._fused.flat_labels is not None and dx.flags.c_contiguous:
            dx.reshape(-1)[self._fused.flat_labels] -= 1  # dx[rows, t] -= 1, by flat indices
        elif t.ndim == 1:
            dx[self._fused.rows(x.shape[0]), t] -= 1
        else:
            dx -= t
        dx *= dout / x.shape[0]
        return dx


class Dropout(Layer):
    """Dropout: in training, zero each input with probability ``dropout_ratio``.

    Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
    https://jmlr.org/papers/v15/srivastava14a.html

    Parameters
    ----------
    dropout_ratio : float in [0, 1)
        Probability of dropping a unit.
    inverted : bool
        False (default): the textbook's form, which keeps units unscaled while training and
        multiplies by (1 - ratio) at inference (so the book's trained weights give the book's
        accuracy). True: scale kept units by 1 / (1 - ratio) while training, so that inference is
        the identity. Both have the same expected output.
    seed : int, numpy.random.Generator or None
        Source of the masks. A Generator is used as it is (a network shares its own). None:
        NumPy's global generator, ``np.random.rand(*x.shape)`` per mask as in the book.

    Input and output: any shape, float; dtype kept. ``mask`` (bool, True = kept) is the last mask.
    """

    def __init__(self, dropout_ratio: float = 0.5, *, inverted: bool = False, seed=None) -> None:
        super().__init__()
        self.dropout_ratio = check_ratio("dropout_ratio", dropout_ratio)
        self.inverted = check_bool("inverted", inverted)
        self.rng = as_generator("seed", seed)
        self.mask: np.ndarray | None = None
        self._factor: np.ndarray | None = None  # mask * scale in the input's dtype, or None after inference
        self._keep_mask = False
        self._shape: tuple[int, ...] | None = None  # the last forward's output shape

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

    def forward(self, x, train: bool = True, *, train_flg: bool | None = None) -> np.ndarray:
        """Return x with dropped units zeroed (training) or the inference output (train=False).

        Parameters
        ----------
        x : array_like, any shape, float
        train : bool
            The textbook's ``train_flg`` (also accepted by that name). With ``inverted=True``
            inference returns ``x`` itself, not a copy.

        Returns
        -------
        ndarray of x's shape and dtype
        """
        train = train_flag(train, train_flg)
        x = as_float_array("x", x)
        self._shape = x.shape
        if not train:
            self._factor = None
            return x if self.inverted else _times(x, 1.0 - self.dropout_ratio)
        if not (self._keep_mask and self.mask is not None and self.mask.shape == x.shape):
            # Uniforms are drawn in float64 whatever x's dtype, so float32 and float64 nets built
            # from one seed drop the same units.
            self.mask = self.rng.random(x.shape) >= self.dropout_ratio
        scale = 1.0 / (1.0 - self.dropout_ratio) if self.inverted else 1.0
        self._factor = self.mask.astype(x.dtype)
        self._factor *= scale
        return _times(x, self._factor)

    def backward(self, dout) -> np.ndarray:
        """Return dx: dout through the same mask and scale as the last forward."""
        self._require_forward(self._shape is not None)
        dout = self._check_dout(dout, self._shape)
        if self._factor is None:
            return dout if self.inverted else _times(dout, 1.0 - self.dropout_ratio)
        return _times(dout, self._factor)


def _times(a: np.ndarray, b) -> np.ndarray:
    """``a * b`` as an ndarray even for 0-d input (where NumPy's product is a scalar)."""
    out = a * b
    return out if isinstance(out, np.ndarray) else np.asarray(out)


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
        momentum = check_real("momentum", momentum, low=0.0, high=1.0, low_open=False, high_open=False)
        self.momentum, self.eps = momentum, check_positive("eps", eps)
        self.params = {"gamma": gamma, "beta": beta}
        self.grads = {"gamma": np.zeros_like(gamma), "beta": np.zeros_like(beta)}
        stats = {"running_mean": (running_mean, np.zeros), "running_var": (running_var, np.ones)}
        for name, (value, default) in stats.items():
            arr = default(d, dtype=dtype) if value is None else as_float_array(name, value).astype(dtype)
            if arr.shape != (d,):
                raise ValueError(f"{name}: expected shape ({d},), got {arr.shape}")
            if not (np.isfinite(arr).all() and (name == "running_mean" or (arr >= 0).all())):
                what = "finite values" if name == "running_mean" else "finite values >= 0"
                raise ValueError(f"{name}: expected {what}, got {arr}")
            self.buffers[name] = arr
        self.input_shape: tuple[int, ...] | None = None
        self.xn: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.train_flg = True

    # Assignable like Affine's W and b (Layer._set_array).
    gamma = property(lambda self: self.params["gamma"],
                     lambda self, v: self._set_array(self.params, "gamma", v))
    beta = property(lambda self: self.params["beta"], lambda self, v: self._set_array(self.params, "beta", v))
    dgamma = property(lambda self: self.grads["gamma"])
    dbeta = property(lambda self: self.grads["beta"])
    running_mean = property(lambda self: self.buffers["running_mean"],
                            lambda self, v: self._set_array(self.buffers, "running_mean", v))
    running_var = property(lambda self: self.buffers["running_var"],
                           lambda self, v: self._set_array(self.buffers, "running_var", v))

    def __repr__(self) -> str:
        d = self.params["gamma"].shape[0]
        return f"BatchNormalization({d}, momentum={self.momentum}, eps={self.eps})"

    def forward(self, x, train: bool = True, *, train_flg: bool | None = None) -> np.ndarray:
        """Normalize with the batch's statistics (train, updating the running ones) or the running ones.

        Parameters
        ----------
        x : array_like, shape (N, D) or (N, ...) with D features; cast to gamma's dtype.
        train : bool
            The textbook's ``train_flg`` (also accepted by that name).

        Returns
        -------
        ndarray of x's shape, gamma's dtype
        """
        train = train_flag(train, train_flg)
        gamma = self.params["gamma"]
        x = as_float_array("x", x)
        x2 = flatten_features(x, gamma.shape[0]).astype(gamma.dtype, copy=False)
        if train:  # an empty batch has no statistics: refused before the running ones change
            check_nonempty_batch("x", x2)
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
    Computed as im2col and matmuls, a few samples at a time (scratchnet._conv; LeCun et al. 1998,
    http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf). ``backward`` uses the x kept by
    ``forward`` (as the book's layer keeps ``self.x``).
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
        self._xp: np.ndarray | None = None  # x padded (x itself when pad is 0)
        self._pad_buf: np.ndarray | None = None
        self._bufs: dict[str, np.ndarray] = {}  # scratch arrays of _conv, reused between calls

    # Assignable like Affine's (Layer._set_array): the book's load_params does ``layer.W = ...``.
    W = property(lambda self: self.params["W"], lambda self, v: self._set_array(self.params, "W", v))
    b = property(lambda self: self.params["b"], lambda self, v: self._set_array(self.params, "b", v))
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
        x, shape = self._checked_input(x)
        out = _check_out_contiguous(self._out(out, shape, self.params["W"].dtype))  # before buffers change
        return self._forward(x, out)

    def _checked_input(self, x) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """x checked and cast to W's dtype, and the output's shape (N, FN, OH, OW): forward's checks."""
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        x = _check_image_input(x, c, W.dtype)
        n, _, h, w = x.shape
        return x, (n, fn, conv_output_size(h, fh, self.stride, self.pad),
                   conv_output_size(w, fw, self.stride, self.pad))

    def _forward(self, x: np.ndarray, out: np.ndarray | None, sink=None) -> np.ndarray | None:
        """forward on a checked x into a checked out; or, with ``sink`` and out None, chunk by chunk
        into ``sink(s, M, chunk)`` (see :func:`scratchnet._conv.conv_gemm`)."""
        W = self.params["W"]
        fn, _, fh, fw = W.shape
        self._xp, self._pad_buf = _conv.padded(x, self.pad, self._pad_buf)
        n, _, hp, wp = self._xp.shape
        oh, ow = (hp - fh) // self.stride + 1, (wp - fw) // self.stride + 1
        _conv.conv_gemm(self._xp, W.reshape(fn, -1), fh, fw, self.stride, oh, ow,
                        None if out is None else out.reshape(n, fn, oh * ow), self._bufs,
                        b=self.params["b"], sink=sink)
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
        n, _, hp, wp = self._xp.shape
        oh, ow = (hp - fh) // self.stride + 1, (wp - fw) // self.stride + 1
        dout = self._check_dout(dout, (n, fn, oh, ow), W.dtype)
        d3 = np.ascontiguousarray(dout).reshape(n, fn, oh * ow)
        _conv.conv_weight_grad(self._xp, d3, fh, fw, self.stride, oh, ow,
                               self._grad_buffer("W").reshape(fn, -1), self._grad_buffer("b"), self._bufs)
        if not input_grad:
            return None
        if self.stride == 1 and self.pad < fh and self.pad < fw:
            dx = _check_out_contiguous(self._out(out, self.x.shape, W.dtype))
            return _conv.input_grad_stride1(dout, W, self.pad, dx, self._bufs)
        dcol = _conv.scratch(self._bufs, "dcol", (n, c * fh * fw, oh * ow), W.dtype)
        np.matmul(W.reshape(fn, -1).T, d3, out=dcol)
        if self.pad == 0:
            dx = _check_out_contiguous(self._out(out, self.x.shape, W.dtype))
            return _conv.col2im_t(dcol, self.x.shape, fh, fw, self.stride, out=dx)
        dxp = _conv.col2im_t(dcol, self._xp.shape, fh, fw, self.stride)
        dx = self._out(out, self.x.shape, W.dtype)
        np.copyto(dx, _conv.unpadded(dxp, self.pad))
        return dx


class Pooling(Layer):
    """Max pooling over pool_h x pool_w windows of NCHW images; overlapping windows allowed.

    Parameters
    ----------
    pool_h, pool_w : int >= 1
    stride : int >= 1
        1 by default, as the book's signature (its networks pass ``stride=2``).
    pad : int >= 0
        Zeros added around H and W before pooling, as the textbook's im2col does.

    ``forward`` takes x (N, C, H, W), float, and returns (N, C, OH, OW) in x's dtype,
    OH = (H + 2*pad - pool_h) / stride + 1; ``backward`` sends each output's gradient to the
    first maximum of its window (the textbook's argmax).
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
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
        self._bufs: dict[str, np.ndarray] = {}  # the 2x2 path's scratch arrays and winners
        self._tiled_2x2 = False  # whether the last forward took that path

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
        out = self._out(out, (n, c, oh, ow), x.dtype)  # checked before the kept input changes
        self._tiled_2x2 = self.pool_h == self.pool_w == self.stride == 2 and self.pad == 0
        if self._tiled_2x2:  # the book's pool: windows that tile x (other sizes raised above)
            _conv.max_pool_2x2(x, out, self._bufs)
            self.x = x
            return out
        self._xp, self._pad_buf = _conv.padded(x, self.pad, self._pad_buf)
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
        if self._tiled_2x2:
            n, c, h, w = self.x.shape
            dout = self._check_dout(dout, (n, c, h // 2, w // 2), self.x.dtype)
            dx = self._out(out, self.x.shape, self.x.dtype)
            if dx.flags.c_contiguous:
                return _conv.max_pool_2x2_backward(dout, dx, self._bufs)
            np.copyto(dx, _conv.max_pool_2x2_backward(dout, np.empty_like(dx, order="C"), self._bufs))
            return dx
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
