"""Networks built from layers: ``Sequential`` and the textbook's ``TwoLayerNet`` and ``MultiLayerNet``.

Every network offers the interface optimisers, trainers and gradient checks rely on:

- ``layers``: the book's OrderedDict of the layers before the loss (``'Affine1'``, ``'Relu1'``, ...),
  ``last_layer`` the loss; ``layer_list`` all of them in order, the loss last.
- ``params``: a flat dict named per parameter kind in layer order (the k-th Affine's ``W{k}``/``b{k}``,
  the k-th BatchNormalization's ``gamma{k}``/``beta{k}``), holding the layers' own arrays: update
  them in place, never rebind them. TwoLayerNet and MultiLayerNet pack them into one flat buffer
  (a :class:`~scratchnet._packed.PackedDict`; docs/speed.md).
- ``predict(x, train=False)`` -> scores (N, C); ``loss(x, t, train=False)`` and ``accuracy(x, t)`` ->
  float, ``t`` labels (N,) or one-hot (N, C); ``loss_and_gradient(x, t)``, ``gradient(x, t)`` (copies),
  ``numerical_gradient(x, t)``; ``state_dict()``/``load_state_dict(d)``, ``save(path)``/``load(path)``
  (.npz, no pickle, strict about names and shapes); ``summary()``; ``dtype``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from ._checks import (
    GlobalGenerator,
    as_float_array,
    as_generator,
    check_bool,
    check_labels,
    check_nonempty_batch,
    check_nonnegative,
    check_positive_int,
    check_ratio,
    check_real,
    label_column_as_vector,
)
from ._conv_block import blocks as conv_blocks
from ._fast_step import FastStep
from ._fast_step import fits as fast_step_fits
from ._packed import CopyPool, PackedDict, ParamLayout
from .gradient import NUMERICAL_METHODS, LayerSpec, NetworkSpec, network_numerical_gradient
from .layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Layer,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    train_flag,
)
from .util import atomic_write, conv_output_size, format_table, read_npz

__all__ = ["Sequential", "TwoLayerNet", "MultiLayerNet"]

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid}

#: Weight-initialisation names and the variance numerator they use: std = sqrt(k / fan_in).
WEIGHT_INIT_SCALES = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}


class _NetworkState:
    """Sequential's state: buffers, generators, ``state_dict``/``load_state_dict``, ``save``/``load`` (.npz),
    and ``summary()``. A mixin only so that each class reads on one screen; it needs ``params``,
    ``layer_list`` and ``_buffer_slots`` from Sequential."""

    def buffers(self) -> dict[str, np.ndarray]:
        """The layers' buffers (batch-norm running statistics) by name, the arrays themselves (not copies)."""
        return {name: layer.buffers[key] for name, (layer, key) in self._buffer_slots.items()}

    def generators(self) -> dict[str, np.random.Generator | GlobalGenerator]:
        """The random generators the layers draw from (dropout masks), keyed by layer index.

        A layer built with no seed draws from NumPy's global generator: its entry is the adapter,
        whose state checkpoints save and restore like any other.
        """
        return {str(i): layer.rng for i, layer in enumerate(self.layer_list)
                if isinstance(getattr(layer, "rng", None), (np.random.Generator, GlobalGenerator))}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer (batch-norm running statistics), by name."""
        state = {name: p.copy() for name, p in self.params.items()}
        state.update((name, b.copy()) for name, b in self.buffers().items())
        return state

    def load_state_dict(self, state: dict, *, source: str = "state_dict") -> None:
        """Copy values into the existing arrays, strictly: nothing changes unless every entry fits.

        ValueError names missing and unexpected keys or wrong shapes; TypeError a non-float array.
        Other float dtypes are cast. ``source`` names the origin in messages (``load``: the path).
        NaN and inf are copied (a diverged network's state loads back); :meth:`load` refuses them.
        """
        _copy_state(self, state, source, finite=False)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``state_dict()`` to ``path`` as an .npz archive (exactly that name), atomically."""
        full = _save_path(path)
        state = self.state_dict()
        atomic_write(full, lambda f: np.savez(f, **state), binary=True)

    def load(self, path: str | os.PathLike) -> None:
        """Load what :meth:`save` wrote, strictly; ValueError naming a damaged, pickled or non-finite file."""
        path = os.fspath(path)
        _copy_state(self, read_npz(path, "weights"), path, finite=True)

    def summary(self) -> str:
        """A table of the layers, their output shapes and parameter counts."""
        return _summary(self)



class Sequential(_NetworkState):
    """Layers applied in order, ending in a loss layer.

    Parameters
    ----------
    *layers : layer objects
        Anything with ``forward(x)`` and ``backward(dout)``; ``params``/``grads``/``buffers`` dicts
        are read when present. ``train`` is passed only to layers whose ``forward`` accepts it (as
        ``train_flg`` to a layer written the book's way), so a textbook-style layer works as it is.
    loss : layer, optional
        The last layer, ``forward(x, t) -> float`` and ``backward(dout=1.0)``. A new
        ``SoftmaxWithLoss()`` by default.
    weight_decay_lambda : float
        L2 weight decay: 0.5 * lambda * sum(W**2) over every weight ``W{k}`` (not biases, not
        batch-norm parameters) is added to the loss and lambda * W to its gradient.
    names : sequence of str, optional
        The keys of ``layers``, one per layer before the loss. By default the book's: the class
        name and its count, ``Affine1``, ``Relu1``, ``Affine2``, ``BatchNorm1``, ``Dropout1``.

    Attributes: ``layers`` (the book's OrderedDict of the layers before the loss, by name),
    ``layer_list`` (every layer in order, the loss last), ``last_layer`` (the loss), ``params``
    (see the module docstring), ``dtype`` (the parameters' dtype, float64 if there are none; inputs
    are cast to it).
    """

    def __init__(self, *layers, loss=None, weight_decay_lambda: float = 0.0,
                 names: Sequence[str] | None = None) -> None:
        loss = SoftmaxWithLoss() if loss is None else loss
        _check_layers(layers, loss)
        names = _layer_names(layers) if names is None else _checked_names(names, layers)
        #: The layers in order, the loss layer last: what every method here walks.
        self.layer_list = [*layers, loss]
        #: The book's view: the hidden layers by name ('Affine1', 'Relu1', ...), the loss apart.
        self.layers = OrderedDict(zip(names, layers, strict=True))
        self.weight_decay_lambda = check_nonnegative("weight_decay_lambda", weight_decay_lambda)
        self._train_kw = [_train_keyword(layer.forward) for layer in layers]
        self._buffers_of_step = _StepBuffers(self.layer_list)
        self._param_slots, self._buffer_slots, self.dtype = _slots_of(self.layer_list)
        self.params: dict[str, np.ndarray] = {
            name: layer.params[key] for name, (layer, key) in self._param_slots.items()
        }
        _check_unshared(self.params)
        self._packed_grads: PackedDict | None = None
        self._grad_copies = CopyPool()
        self._decayed = [name for name, (_, key) in self._param_slots.items() if key == "W"]
        # Whether a failed step has state to restore (batch-norm statistics, dropout generators).
        self._restorable = bool(self._buffer_slots or self.generators())
        self._fast_step = FastStep(self.layer_list, self.dtype) if fast_step_fits(self.layer_list) else None
        self._conv_blocks = conv_blocks(self.layer_list)
        for layer in self.layer_list:  # checked: their arrays are shared with params/grads from here on
            if isinstance(layer, Layer):
                layer.adopted = True

    @property
    def last_layer(self):
        """The loss layer (the textbook's name)."""
        return self.layer_list[-1]

    loss_layer = last_layer

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layer_list[:-1])
        decay = f", weight_decay_lambda={self.weight_decay_lambda}" if self.weight_decay_lambda else ""
        return f"{type(self).__name__}({inner}, loss={self.last_layer!r}{decay})"

    def _pack_parameters(self) -> None:
        """Move the parameters into one flat buffer and the gradients into another, laid out alike.

        ``params`` becomes a PackedDict, whose layout travels with it to the optimiser.
        """
        layout = ParamLayout(self.params, [p.shape for p in self.params.values()], self.dtype)
        params, grads = layout.zeros(), layout.zeros()
        for name, (layer, key) in self._param_slots.items():
            params[name][...] = layer.params[key]
            layer.params[key], layer.grads[key] = params[name], grads[name]
        self.params, self._packed_grads = params, grads

    # ------------------------------------------------------------------ forward
    def _as_input(self, x) -> np.ndarray:
        return as_float_array("x", x).astype(self.dtype, copy=False)

    def _layer_forward(self, i: int, x, train: bool):
        """Hidden layer i's forward, with ``train`` only for layers that take it."""
        layer, kw = self.layer_list[i], self._train_kw[i]
        return layer.forward(x, **{kw: train}) if kw else layer.forward(x)

    def predict(self, x, train: bool = False, *, train_flg: bool | None = None) -> np.ndarray:
        """Return the scores before the softmax, (N, C) in the network's dtype, for x of shape (N, ...).

        ``train``: training-mode dropout and batch norm (the textbook's ``train_flg``, also
        accepted by that name).
        """
        train = train_flag(train, train_flg)
        with _unchanged_on_error(self, train):
            out = self._as_input(x)
            if train:  # a batch's statistics need samples
                check_nonempty_batch("x", out)
            for i in range(len(self.layer_list) - 1):
                out = self._layer_forward(i, out, train)
        return out

    def _weight_decay_loss(self) -> float:
        if not self.weight_decay_lambda:
            return 0.0
        total = sum(float(np.vdot(self.params[name], self.params[name])) for name in self._decayed)
        return 0.5 * self.weight_decay_lambda * total

    def loss(self, x, t, train: bool = False, *, train_flg: bool | None = None) -> float:
        """Return the loss of the batch (plus weight decay) as a float; t: labels (N,) or one-hot (N, C)."""
        train = train_flag(train, train_flg)
        x = self._as_input(x)
        check_nonempty_batch("x", x)  # a mean over no samples
        with _unchanged_on_error(self, train):
            return self.last_layer.forward(self.predict(x, train), t) + self._weight_decay_loss()

    def accuracy(self, x, t) -> float:
        """Return the fraction of samples whose highest score is the teacher's class (inference mode)."""
        return _fraction_right(self.predict(x), t)

    # ----------------------------------------------------------------- backward
    def loss_and_gradient(self, x, t) -> tuple[float, dict[str, np.ndarray]]:
        """One forward pass in training mode and one backward pass.

        Returns the loss (float, weight decay included) and the gradients, keyed like ``params``:
        the layers' gradient buffers, overwritten by the next call (copy them to keep them). The
        activations and the gradients between layers go to buffers the network keeps and are never
        handed out, so nothing the caller holds is overwritten. A chain of Affine, Sigmoid and Relu
        layers ending in SoftmaxWithLoss takes the fast step of :mod:`scratchnet._fast_step` (checked once
        per batch shape, the same numbers bit for bit); anything else goes layer by layer.
        """
        fast = self._fast_step
        loss = None if fast is None else fast(x, t)  # None: not this kind of batch (or network)
        if loss is None:
            loss = self._forward_backward(x, t)
        loss += self._weight_decay_loss()
        grads = {name: layer.grads[key] for name, (layer, key) in self._param_slots.items()}
        if self._packed_grads is not None:
            grads = self._packed_grads.rewrap(grads)
        for name in self._decayed if self.weight_decay_lambda else ():
            decay = self._buffers_of_step.scratch(("decay", name), grads[name])
            np.multiply(self.params[name], self.weight_decay_lambda, out=decay)
            grads[name] += decay
        return loss, grads

    def _forward_backward(self, x, t) -> float:
        """The training step layer by layer, for any layers: the loss without weight decay.

        Convolution -> Relu -> 2x2 Pooling runs as one block (:mod:`scratchnet._conv_block`).
        """
        step, hidden, blocks = self._buffers_of_step, self.layer_list[:-1], self._conv_blocks
        fused: list[int] = []  # the blocks that ran, by their first index
        with _unchanged_on_error(self) if self._restorable else contextlib.nullcontext():
            out = step.as_input(x, self.dtype)
            check_nonempty_batch("x", out)
            out = _forward_blocks(self, out, lambda i, o: step.forward(
                i, o, {self._train_kw[i]: True} if self._train_kw[i] else {}), fused)
            loss = self.last_layer.forward(out, t)
        dout, i = step.backward(len(hidden), 1.0, like=out), len(hidden) - 1
        while i >= 0:
            if fused and fused[-1] == i - 2:  # nobody needs the input data's gradient (i - 2 == 0)
                dout, i = blocks[fused.pop()].backward(dout, input_grad=i > 2), i - 3
            elif i > 0:
                dout, i = step.backward(i, dout), i - 1
            else:
                _first_layer_backward(hidden[0], dout)
                i = -1
        return loss

    def gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of the loss by backpropagation, keyed like ``params`` (fresh copies, safe to keep)."""
        _, grads = self.loss_and_gradient(x, t)
        return self._grad_copies.copy(grads)  # into an earlier copy's buffer once nobody holds it

    def numerical_gradient(self, x, t, h: float = 1e-4, *, method: str = "auto",
                           threads: int | None = None) -> dict[str, np.ndarray]:
        """Gradients of the loss by central differences, (L(w + h) - L(w - h)) / 2h per element.

        x: (N, ...); t: labels (N,) or one-hot (N, C). ``method``: "auto", "fast", "general" or
        "naive" and ``threads`` as in :func:`scratchnet.gradient.network_numerical_gradient`. The
        loss is the training-mode one ``loss_and_gradient`` differentiates (batch statistics, the
        last dropout mask held); running statistics are left as they were. Returns a dict keyed
        like ``params``, each of its parameter's shape and dtype.
        """
        if method not in NUMERICAL_METHODS:
            raise ValueError(f"method: expected one of {NUMERICAL_METHODS}, got {method!r}")
        x = self._as_input(x)
        with _held_still(self):
            grads = network_numerical_gradient(network_spec(self), x, t, h, method=method, threads=threads)
        return {name: grads[name] for name in self.params}


def _forward_blocks(net: Sequential, out: np.ndarray, layer_forward, fused: list[int]) -> np.ndarray:
    """``net``'s hidden layers forward: each conv block (:mod:`scratchnet._conv_block`) as one, its
    first index appended to ``fused``; every other layer i as ``layer_forward(i, out)``."""
    i, hidden = 0, len(net.layer_list) - 1
    while i < hidden:
        block = net._conv_blocks.get(i)
        y = block.forward(out) if block and block.still_fits(net.layer_list, i) else None
        if y is not None:
            fused.append(i)
            out, i = y, i + 3
        else:
            out, i = layer_forward(i, out), i + 1
    return out


def _first_layer_backward(layer, dout) -> None:
    """The first layer's backward, without the input's gradient where the layer can skip it."""
    if isinstance(layer, Affine) or _accepts(layer.backward, "input_grad"):
        layer.backward(dout, input_grad=False)
    else:
        layer.backward(dout)


class _StepBuffers:
    """The arrays a training step writes activations and layer-to-layer gradients into, reused by the next.

    A layer whose forward/backward takes ``out=`` gets, from its second call on an input of a given
    shape, the array it returned the first time; so no layer needs to say its output shape, and a
    training step allocates almost nothing. Layers without ``out=`` are called as they are.
    """

    def __init__(self, layers: list) -> None:
        self.layers = layers
        self.forward_out = [_accepts(layer.forward, "out") for layer in layers[:-1]]
        self.backward_out = [_accepts(layer.backward, "out") for layer in layers]
        self.arrays: dict[tuple, np.ndarray] = {}

    def as_input(self, x, dtype: np.dtype) -> np.ndarray:
        """``x`` as a float array of ``dtype``: itself if it has it, else cast into a reused buffer."""
        x = as_float_array("x", x)
        if x.dtype == dtype:
            return x
        buf = self.scratch(("input",), np.broadcast_to(np.empty((), dtype), x.shape))
        np.copyto(buf, x, casting="same_kind")
        return buf

    def forward(self, i: int, x, kwargs: dict):
        return self._call(("forward", i), self.layers[i].forward, x, self.forward_out[i], kwargs)

    def backward(self, i: int, dout, like: np.ndarray | None = None):
        return self._call(("backward", i), self.layers[i].backward, dout, self.backward_out[i], {}, like)

    def scratch(self, key: tuple, like: np.ndarray) -> np.ndarray:
        """A scratch array of ``like``'s shape and dtype, the same one on every call with this key."""
        buf = self.arrays.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self.arrays[key] = np.empty_like(like)
        return buf

    def _call(self, key: tuple, method, arg, takes_out: bool, kwargs: dict, like=None):
        if not takes_out:
            return method(arg, **kwargs)
        shaped = arg if like is None else like  # a scalar argument (the loss's dout) takes like's shape
        full_key = (*key, shaped.shape, shaped.dtype)
        buf = self.arrays.get(full_key)
        if buf is not None:
            return method(arg, out=buf, **kwargs)
        result = method(arg, **kwargs)
        # Adopt only an array of its own: never the input, nor a view of something else.
        if isinstance(result, np.ndarray) and result is not arg and result.base is None:
            if len(self.arrays) > 16 * len(self.layers):  # many batch shapes seen: start afresh
                self.arrays.clear()
            self.arrays[full_key] = result
        return result


def network_spec(net: Sequential) -> NetworkSpec:
    """``net`` as plain layer descriptions, for scratchnet.gradient (which never sees the network)."""
    names: dict[int, dict[str, str]] = {}
    for name, (layer, key) in net._param_slots.items():
        names.setdefault(id(layer), {})[key] = name
    kinds = {Affine: "affine", Sigmoid: "sigmoid", Relu: "relu"}
    layers = []
    for layer, kw in zip(net.layer_list[:-1], net._train_kw, strict=True):
        forward = functools.partial(layer.forward, **{kw: True}) if kw else layer.forward
        own = names.get(id(layer), {})
        params = {own[key]: layer.params[key] for key in own}
        layers.append(LayerSpec(kinds.get(type(layer), "other"), forward, params, type(layer).__name__))
    last = net.last_layer

    def loss(scores, t):
        return last.forward(scores, t) + net._weight_decay_loss()

    form = last.form if type(last) is SoftmaxWithLoss else None
    return NetworkSpec(layers, loss, form, net.weight_decay_lambda)


@contextlib.contextmanager
def _held_still(net: Sequential) -> Iterator[None]:
    """Within this block the dropout masks stay fixed; the buffers are restored when it ends."""
    saved = {name: buf.copy() for name, buf in net.buffers().items()}
    with contextlib.ExitStack() as stack:
        for layer in net.layer_list:
            if isinstance(layer, Dropout):
                stack.enter_context(layer.fixed_mask())
        try:
            yield
        finally:
            for name, buf in net.buffers().items():
                buf[...] = saved[name]


@contextlib.contextmanager
def _unchanged_on_error(net: Sequential, train: bool = True) -> Iterator[None]:
    """Restore the buffers (batch-norm statistics) and generators (dropout) if the block raises.

    A training-mode forward changes them before the loss layer has seen ``t``: a refused ``t``
    (or an input a later layer refuses) must not leave them changed.
    """
    buffers = net.buffers() if train else {}
    gens = list({id(g): g for g in net.generators().values()}.values()) if train else []
    if not (buffers or gens):
        yield
        return
    saved = {name: buf.copy() for name, buf in buffers.items()}
    states = [g.bit_generator.state for g in gens]  # MultiLayerNet's dropout layers share one
    try:
        yield
    except BaseException:
        for name, buf in buffers.items():
            buf[...] = saved[name]
        for g, state in zip(gens, states, strict=True):
            g.bit_generator.state = state
        raise


def _copy_state(net: Sequential, state, source: str, *, finite: bool) -> None:
    """Copy ``state`` into the network's parameters and buffers once all of it is checked."""
    targets = {**net.params, **net.buffers()}
    values = _checked_state(targets, state, source)
    bad = [f"{name} ({np.count_nonzero(~np.isfinite(v))} of {v.size})"
           for name, v in values.items() if finite and not np.isfinite(v).all()]
    if bad:
        raise ValueError(f"{source}: expected finite values, got NaN or inf in " + ", ".join(bad))
    for name, dst in targets.items():
        np.copyto(dst, values[name], casting="same_kind")


def _save_path(path) -> str:
    """``path`` made absolute, after checking its folder exists (else the error names a temporary file)."""
    given, full = os.fspath(path), os.path.abspath(os.fspath(path))
    if not os.path.isdir(os.path.dirname(full)):
        raise FileNotFoundError(f"path: cannot save to {given}: no folder {os.path.dirname(full)}")
    if os.path.isdir(full):
        raise IsADirectoryError(f"path: cannot save to {given}: it is a folder")
    return full


def _check_layers(layers: tuple, loss) -> None:
    seen: dict[int, int] = {}
    for i, layer in enumerate([*layers, loss]):
        what = "loss" if i == len(layers) else f"layers[{i}]"
        if isinstance(layer, type):
            raise TypeError(f"{what}: expected a layer object, got the class {layer.__name__} "
                            f"(did you mean {layer.__name__}(...)?)")
        if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
            raise TypeError(f"{what}: expected a layer with forward and backward, got {type(layer).__name__}")
        if id(layer) in seen:
            # A layer keeps its last input for backward, and its grads would be overwritten.
            raise ValueError(f"{what}: the {type(layer).__name__} object at position {seen[id(layer)]} "
                             f"is used again at position {i}; give each position its own layer "
                             "(copy.deepcopy(layer) for one with the same weights)")
        seen[id(layer)] = i


def _check_unshared(params: dict[str, np.ndarray]) -> None:
    """Refuse two parameters in one memory: each would get its own gradient, then both updates."""
    items = list(params.items())
    for i, (a, p) in enumerate(items):
        for b, q in items[i + 1:]:
            if np.shares_memory(p, q):
                raise ValueError(f"layers: parameters {a} and {b} share memory; tied weights are not "
                                 "supported: give each layer its own arrays")


def _fraction_right(y: np.ndarray, t) -> float:
    """The fraction of rows of scores ``y`` whose argmax is the teacher's class; a row with NaN is wrong."""
    check_nonempty_batch("x", y)
    right = np.argmax(y, axis=1) == _as_labels(t, *y.shape)
    right &= ~np.isnan(y).any(axis=1)  # argmax takes a NaN for the highest score
    return float(np.mean(right))


def _as_labels(t, n: int, c: int) -> np.ndarray:
    """Integer labels (N,) from labels (N,) or (N, 1) or one-hot targets (N, C), checked."""
    t = label_column_as_vector(np.asarray(t), (n, c))
    if t.shape == (n, c):
        t = as_float_array("t", t)
        if not np.isfinite(t).all():
            raise ValueError("t: expected finite one-hot targets, got NaN or inf")
        return np.argmax(t, axis=1)
    if t.shape == (n,):
        return check_labels("t", t, c)
    raise ValueError(
        f"t: expected labels of shape ({n},) or one-hot targets of shape ({n}, {c}), got {t.shape}"
    )


def _checked_state(targets: dict[str, np.ndarray], state, source: str) -> dict[str, np.ndarray]:
    """``state``'s arrays by name, after checking names, float dtypes and shapes against ``targets``."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{source}: expected a dict of arrays by name, got {type(state).__name__}")
    missing = [name for name in targets if name not in state]
    unexpected = [name for name in state if name not in targets]
    if missing or unexpected:
        parts = [f"missing keys {missing}"] if missing else []
        parts += [f"unexpected keys {unexpected}"] if unexpected else []
        raise ValueError(f"{source}: " + ", ".join(parts))
    values, wrong = {}, []
    for name, dst in targets.items():
        src = np.asarray(state[name])
        if src.dtype.kind != "f":
            raise TypeError(f"{source}: {name}: expected a float array, got dtype {src.dtype}")
        if src.shape != dst.shape:
            wrong.append(f"{name}: expected shape {dst.shape}, got {src.shape}")
        values[name] = src
    if wrong:
        raise ValueError(f"{source}: " + "; ".join(wrong))
    return values


def _summary(net: Sequential) -> str:
    lines = [f"{type(net).__name__} (dtype {net.dtype.name})", *format_table(_summary_rows(net))]
    lines.append(f"total parameters: {sum(p.size for p in net.params.values()):,}")
    if net.weight_decay_lambda:
        lines.append(f"weight decay lambda {net.weight_decay_lambda} on {', '.join(net._decayed)}")
    return "\n".join(lines)


def _summary_rows(net: Sequential) -> list[tuple[str, ...]]:
    names_of: dict[int, list[str]] = {}
    for name, (layer, _) in net._param_slots.items():
        names_of.setdefault(id(layer), []).append(name)
    rows = [("#", "layer", "output", "params", "")]
    shape = _input_shape(net)
    for i, layer in enumerate(net.layer_list, 1):
        params = getattr(layer, "params", {})
        shape = _output_shape(layer, shape)
        features = "..." if shape is None else ", ".join(map(str, shape))
        output = "loss (float)" if layer is net.last_layer else f"(N, {features})"
        count = sum(p.size for p in params.values())
        shapes = ", ".join(f"{n} {net.params[n].shape}" for n in names_of.get(id(layer), []))
        rows.append((str(i), repr(layer), output, f"{count:,}", shapes))
    return rows


def _input_shape(net) -> tuple[int, ...] | None:
    """One sample's shape, from the net's ``input_dim`` (C, H, W) or ``input_size``; None if unknown."""
    dim, size = getattr(net, "input_dim", None), getattr(net, "input_size", None)
    if isinstance(dim, tuple) and all(isinstance(n, int) for n in dim):
        return dim
    return (size,) if isinstance(size, int) else None


def _output_shape(layer, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """One sample's shape after ``layer``: what Affine, Convolution and Pooling make of ``shape``."""
    w = getattr(layer, "params", {}).get("W")
    if w is not None and w.ndim == 2:
        return (w.shape[1],)
    if shape is None or not isinstance(layer, (Convolution, Pooling)) or len(shape) != 3:
        return shape
    channels, size = (w.shape[0], w.shape[2:]) if w is not None else (shape[0], (layer.pool_h, layer.pool_w))
    try:
        return (channels, *(conv_output_size(n, f, layer.stride, layer.pad) for n, f in zip(shape[1:], size)))
    except ValueError:  # sizes that do not tile: forward would refuse them
        return None


#: The book's layer names where they differ from the class name.
BOOK_LAYER_NAMES = {"BatchNormalization": "BatchNorm", "Convolution": "Conv", "Pooling": "Pool"}


def _layer_names(layers) -> list[str]:
    """The book's keys: each layer's class name (short: ``BatchNorm``, ``Conv``, ``Pool``) and its count."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        kind = type(layer).__name__
        kind = BOOK_LAYER_NAMES.get(kind, kind)
        counts[kind] = counts.get(kind, 0) + 1
        names.append(f"{kind}{counts[kind]}")
    return names


def _checked_names(names, layers) -> list[str]:
    names = list(names)
    distinct = len(set(names)) == len(names) and all(isinstance(n, str) for n in names)
    if len(names) != len(layers) or not distinct:
        raise ValueError(f"names: expected {len(layers)} distinct strings (one per layer before the loss), "
                         f"got {names!r}")
    return names


def _accepts(method, name: str) -> bool:
    """Whether ``method`` takes a parameter called ``name`` (``train``, ``out``)."""
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def _train_keyword(forward) -> str | None:
    """How a layer's forward takes its training flag: ``"train"``, the book's ``"train_flg"``, or None."""
    return next((kw for kw in ("train", "train_flg") if _accepts(forward, kw)), None)


def _slots_of(layer_list: list) -> tuple[dict, dict, np.dtype]:
    """Name every parameter and buffer of the layers (``W1``, ``running_mean1``, ...); check one dtype.

    Returns the parameter slots and buffer slots ({name: (layer, key)}) and the parameters' dtype
    (float64 when there are none).
    """
    params, buffers = _number_slots(layer_list, "params"), _number_slots(layer_list, "buffers")
    clash = set(params) & set(buffers)
    if clash:
        raise ValueError(f"layers: parameter and buffer names collide: {sorted(clash)}")
    dtypes = {layer.params[key].dtype for layer, key in params.values()}
    if len(dtypes) > 1:
        seen = ", ".join(f"{name} {layer.params[key].dtype}" for name, (layer, key) in params.items())
        raise ValueError(f"layers: expected parameters of one dtype, got {seen}")
    return params, buffers, (dtypes.pop() if dtypes else np.dtype(np.float64))


def _number_slots(layers: list, attr: str) -> dict[str, tuple[object, str]]:
    """Name every entry of each layer's ``attr`` dict ``{key}{k}``, k counting that key's layers from 1."""
    counts: dict[str, int] = {}
    slots: dict[str, tuple[object, str]] = {}
    for layer in layers:
        for key in getattr(layer, attr, {}):
            counts[key] = counts.get(key, 0) + 1
            name = f"{key}{counts[key]}"
            if name in slots:
                raise ValueError(f"layers: two {attr} would both be named {name!r}; rename a key")
            slots[name] = (layer, key)
    return slots


def _check_dtype(dtype) -> np.dtype:
    d = np.dtype(dtype)
    if d not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {d}")
    return d


def _weight_std(weight_init_std, fan_in: int) -> float:
    """A number as it is; "relu"/"he" -> sqrt(2 / fan_in); "sigmoid"/"xavier" -> sqrt(1 / fan_in)."""
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key not in WEIGHT_INIT_SCALES:
            names = sorted(WEIGHT_INIT_SCALES)
            raise ValueError(f"weight_init_std: expected a number or one of {names}, got {weight_init_std!r}")
        return math.sqrt(WEIGHT_INIT_SCALES[key] / fan_in)
    return check_real("weight_init_std", weight_init_std, low=0.0, low_open=False)


def _affine(rng: np.random.Generator, fan_in: int, fan_out: int, weight_init_std, dtype: np.dtype) -> Affine:
    # Drawn in float64 and then cast, so a float32 net is the rounded float64 net of the same seed.
    W = (_weight_std(weight_init_std, fan_in) * rng.standard_normal((fan_in, fan_out))).astype(dtype)
    return Affine(W, np.zeros(fan_out, dtype=dtype))


def _activation(activation: str):
    key = activation.lower() if isinstance(activation, str) else activation
    if key not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[key]


class TwoLayerNet(Sequential):
    """The textbook's two-layer network: Affine, activation, Affine, SoftmaxWithLoss.

    Chapter 4's network uses the sigmoid (the default here, as there); chapter 5's uses ReLU.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        784, 50 and 10 for MNIST in the book.
    weight_init_std : float or str
        Standard deviation of the Gaussian initial weights (0.01 in the book), or "relu"/"he"
        (sqrt(2 / fan_in)) or "sigmoid"/"xavier" (sqrt(1 / fan_in)). Biases start at zero.
    activation : {"sigmoid", "relu"}
    seed : int, numpy.random.Generator or None
        The source of the initial weights; the same seed gives the same network. None: NumPy's
        global generator, drawn as the book draws (``np.random.seed(n)`` gives the book's weights).
    dtype : float32 or float64
    loss_form : {"fused", "textbook"}
        See :class:`SoftmaxWithLoss`.

    Parameters are named W1, b1, W2, b2.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, weight_init_std=0.01,
                 activation: str = "sigmoid", *, seed=None, dtype=np.float64,
                 loss_form: str = "fused") -> None:
        sizes = [check_positive_int(n, v) for n, v in
                 (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size))]
        dtype = _check_dtype(dtype)
        act = _activation(activation)
        rng = as_generator("seed", seed)
        layers = [
            _affine(rng, sizes[0], sizes[1], weight_init_std, dtype),
            act(),
            _affine(rng, sizes[1], sizes[2], weight_init_std, dtype),
        ]
        super().__init__(*layers, loss=SoftmaxWithLoss(loss_form))
        self._pack_parameters()
        self.input_size, self.hidden_size, self.output_size = sizes
        self.activation = activation.lower()

    @property
    def lastLayer(self):  # noqa: N802 (the book's chapter 5 spelling)
        """The loss layer, by the name the book's chapter 5 TwoLayerNet gives it (``last_layer``)."""
        return self.last_layer

    def __repr__(self) -> str:
        return (f"TwoLayerNet(input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"output_size={self.output_size}, activation={self.activation!r}, dtype={self.dtype.name})")


class MultiLayerNet(Sequential):
    """The textbook's fully connected network of any depth, with its chapter 6 options.

    Each hidden layer is Affine, [BatchNormalization], activation, [Dropout]; then a last Affine and
    SoftmaxWithLoss.

    Parameters
    ----------
    input_size : int
    hidden_size_list : sequence of int
        The width of each hidden layer, e.g. [100, 100, 100].
    output_size : int
    activation : {"relu", "sigmoid"}
    weight_init_std : float or str
        "relu"/"he" (default, sqrt(2 / fan_in)), "sigmoid"/"xavier" (sqrt(1 / fan_in)) or a number.
    weight_decay_lambda : float
        L2 weight decay: 0.5 * lambda * sum(W**2) in the loss, lambda * W in the gradients.
    use_dropout : bool
    dropout_ratio : float
        The probability of dropping a unit.
    dropout_inverted : bool
        Keyword-only. True (default): inverted dropout; False: the book's form, as
        :class:`~scratchnet.multi_layer_net_extend.MultiLayerNetExtend` uses (see :class:`Dropout`).
    use_batchnorm : bool
        Parameters gamma{k} (ones) and beta{k} (zeros) for hidden layer k.
    seed : int, numpy.random.Generator or None
        The source of the weights and the dropout masks. None: NumPy's global generator, drawn
        as the book draws (``np.random.seed(n)`` gives the book's weights).
    dtype : float32 or float64
    loss_form : {"fused", "textbook"}

    Parameters are named W1, b1, ..., W{L+1}, b{L+1} and gamma1, beta1, ... for L hidden layers.
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std="relu", weight_decay_lambda: float = 0,
                 use_dropout: bool = False, dropout_ratio: float = 0.5, use_batchnorm: bool = False,
                 *, dropout_inverted: bool = True, seed=None, dtype=np.float64,
                 loss_form: str = "fused") -> None:
        input_size = check_positive_int("input_size", input_size)
        output_size = check_positive_int("output_size", output_size)
        widths_given = isinstance(hidden_size_list, (Sequence, np.ndarray))
        if isinstance(hidden_size_list, (str, bytes)) or not widths_given:
            raise TypeError(f"hidden_size_list: expected a list of layer widths, got {hidden_size_list!r}")
        hidden = [check_positive_int(f"hidden_size_list[{i}]", n) for i, n in enumerate(hidden_size_list)]
        dtype = _check_dtype(dtype)
        act = _activation(activation)
        use_dropout = check_bool("use_dropout", use_dropout)
        use_batchnorm = check_bool("use_batchnorm", use_batchnorm)
        dropout_inverted = check_bool("dropout_inverted", dropout_inverted)
        check_ratio("dropout_ratio", dropout_ratio)  # checked even when use_dropout is False
        rng = as_generator("seed", seed)
        sizes = [input_size, *hidden, output_size]
        affines = [_affine(rng, fan_in, fan_out, weight_init_std, dtype)
                   for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)]
        layers, names = [], []  # the book's: Affine{k}, BatchNorm{k}, Activation_function{k}, Dropout{k}
        for k, (affine, width) in enumerate(zip(affines[:-1], hidden, strict=True), 1):
            layers.append(affine)
            names.append(f"Affine{k}")
            if use_batchnorm:
                layers.append(BatchNormalization(np.ones(width, dtype=dtype), np.zeros(width, dtype=dtype)))
                names.append(f"BatchNorm{k}")
            layers.append(act())
            names.append(f"Activation_function{k}")
            if use_dropout:
                layers.append(Dropout(dropout_ratio, inverted=dropout_inverted, seed=rng))
                names.append(f"Dropout{k}")
        layers.append(affines[-1])
        names.append(f"Affine{len(affines)}")
        super().__init__(*layers, loss=SoftmaxWithLoss(loss_form), weight_decay_lambda=weight_decay_lambda,
                         names=names)
        self._pack_parameters()
        self.input_size, self.hidden_size_list, self.output_size = input_size, hidden, output_size
        self.hidden_layer_num = len(hidden)
        self.activation = activation.lower()
        self.use_dropout, self.dropout_ratio = use_dropout, dropout_ratio
        self.dropout_inverted, self.use_batchnorm = dropout_inverted, use_batchnorm

    def __repr__(self) -> str:
        extras = ""
        if self.weight_decay_lambda:
            extras += f", weight_decay_lambda={self.weight_decay_lambda}"
        if self.use_dropout:
            extras += f", use_dropout=True, dropout_ratio={self.dropout_ratio}"
        if self.use_batchnorm:
            extras += ", use_batchnorm=True"
        return (f"MultiLayerNet(input_size={self.input_size}, hidden_size_list={self.hidden_size_list}, "
                f"output_size={self.output_size}, activation={self.activation!r}{extras}, "
                f"dtype={self.dtype.name})")
