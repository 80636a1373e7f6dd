"""The training step of a plain MLP with its checks done once per batch shape (see docs/speed.md).

``Sequential.loss_and_gradient`` runs its layers one by one, each checking its input, and the
network finding each layer an output buffer by a lookup per call. For the common network, a chain
of ``Affine``, ``Sigmoid`` and ``Relu`` layers ending in ``SoftmaxWithLoss``, all of that
is the same on every step of a given batch shape: :class:`FastStep` checks it once per shape (and
dtype), keeps the buffers, and then calls the layers' unchecked ``_forward``/``_backward``, the very
code their public methods run after checking. The numbers are therefore the layer path's, bit for
bit (tests/test_fast_step.py), and the layers are left holding what their own forward would have
left (``Affine.x``, ``Sigmoid.out``, the loss layer's ``t``, ``loss``, softmax).

Every call still checks what can change between calls of one shape: the labels (integers in
[0, C)) and that the network still has the layers it was planned for. Other targets (one-hot,
(N, 1), the textbook's loss form) go through the loss layer's public, checked ``forward``, as on
the general path. Anything else (another shape or dtype, an image-shaped batch of the wrong size,
a list, bad labels) returns None, and the network takes the general path, which gives the usual
errors.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .layers import Affine, Relu, Sigmoid, SoftmaxWithLoss

_KINDS = (Affine, Sigmoid, Relu)


def fits(layer_list: list) -> bool:
    """True for Affine, then Affine/Sigmoid/Relu layers (these exact classes), then SoftmaxWithLoss."""
    *hidden, loss = layer_list
    return (bool(hidden) and type(hidden[0]) is Affine and all(type(layer) in _KINDS for layer in hidden)
            and type(loss) is SoftmaxWithLoss)


class FastStep:
    """The forward and backward pass of ``net`` for one batch shape at a time, into kept buffers."""

    def __init__(self, layer_list: list, dtype: np.dtype) -> None:
        self.layer_list, self.planned = layer_list, tuple(layer_list)
        self.dtype = np.dtype(dtype)
        self.key: tuple | None = None

    def _plan(self, x: np.ndarray, t: np.ndarray) -> bool:
        """Check and prepare the buffers for batches like (x, t); False if this path does not apply."""
        self.key = None
        *hidden, loss = self.planned
        d = hidden[0].params["W"].shape[0]
        if x.dtype.kind != "f" or x.ndim < 2 or x.shape[0] == 0 or math.prod(x.shape[1:]) != d:
            return False
        # Integer labels (N,) take the fused loss here; any other t (one-hot, (N, 1), or what the loss
        # layer refuses) goes through the loss layer's own checked forward.
        self.labels = t.shape == (x.shape[0],) and t.dtype.kind in "iu"
        if any(layer.params["W"].dtype != self.dtype for layer in hidden if type(layer) is Affine):
            return False
        n = x.shape[0]
        self.cast = None if x.dtype == self.dtype else np.empty((n, d), self.dtype)
        self.flat = x.ndim != 2
        forward, backward, width = [], [], d
        for i, layer in enumerate(hidden):
            if type(layer) is Affine:
                width = layer.params["W"].shape[1]
                buf = np.empty((n, width), self.dtype)
            elif type(hidden[i - 1]) is not Affine:
                buf = np.empty((n, width), self.dtype)
            # else: an activation after an Affine works in place: nothing needs the Affine's output.
            forward.append((layer._forward, buf))
        widths = [d] + [buf.shape[1] for _, buf in forward]
        self.classes = widths[-1]
        self.loss_out = incoming = np.empty((n, self.classes), self.dtype)
        for i in range(len(hidden) - 1, 0, -1):
            # Relu's backward may overwrite the gradient it receives (nothing else reads it).
            buf = incoming if type(hidden[i]) is Relu else np.empty((n, widths[i]), self.dtype)
            backward.append((hidden[i], type(hidden[i]) is Affine, buf))
            incoming = buf
        self.forward, self.backward = forward, backward
        self.key = (x.shape, x.dtype, t.shape, t.dtype)
        return True

    def __call__(self, x, t) -> float | None:
        """Run the step and return the loss (weight decay not included), or None to take the general path."""
        if type(x) is not np.ndarray or type(t) is not np.ndarray:
            return None
        if (x.shape, x.dtype, t.shape, t.dtype) != self.key and not self._plan(x, t):
            return None
        lst = self.layer_list
        if len(lst) != len(self.planned) or not all(map(operator.is_, lst, self.planned)):
            return None  # a layer was replaced: the general path from now on
        loss_layer = lst[-1]
        labels = None
        if self.labels and loss_layer.form == "fused":
            if np.maximum.reduce(t) >= self.classes or (t.dtype.kind == "i" and np.minimum.reduce(t) < 0):
                return None  # the general path says what is wrong
            labels = t.astype(np.intp, copy=False)
        first = lst[0]
        if self.cast is not None:
            np.copyto(self.cast, x.reshape(self.cast.shape) if self.flat else x, casting="same_kind")
            out = self.cast
        else:
            out = x.reshape(x.shape[0], -1) if self.flat else x
        for forward, buf in self.forward:
            out = forward(out, buf)
        first.original_x_shape = x.shape
        loss = loss_layer.forward(out, t) if labels is None else loss_layer._forward_labels(out, labels)
        dout = loss_layer._backward(1.0, self.loss_out)
        for layer, affine, buf in self.backward:
            if affine:
                g = layer.grads
                dout = layer._backward(dout, buf, g["W"], g["b"])
            else:
                dout = layer._backward(dout, buf)
        g = first.grads
        first._backward(dout, None, g["W"], g["b"])  # nobody needs the input's gradient
        return loss
