"""Networks built from layers: ``Sequential`` and the textbook's ``TwoLayerNet`` and ``MultiLayerNet``.

Every network offers the same interface (the one optimisers, trainers and gradient checks rely on):

- ``params``: a flat dict with stable names, numbered per parameter kind in layer order: the k-th
  Affine holds ``W{k}``/``b{k}``, the k-th BatchNormalization ``gamma{k}``/``beta{k}``. The values
  are the very arrays the layers compute with: update them in place (``params["W1"] -= ...``),
  never rebind them.
- ``predict(x, train=False)`` -> scores (N, C) before the softmax; ``loss(x, t, train=False)`` ->
  float; ``accuracy(x, t)`` -> float. ``t`` is integer labels (N,) or one-hot (N, C).
- ``loss_and_gradient(x, t)``: one forward pass in training mode and one backward pass;
  ``gradient(x, t)``: the same gradients, copied; ``numerical_gradient(x, t)``: the slow check.
- ``state_dict()`` / ``load_state_dict(d)`` and ``save(path)`` / ``load(path)`` (.npz, no pickle),
  strict about names and shapes; ``summary()``; ``dtype``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import os
from collections.abc import Sequence

import numpy as np

from ._checks import as_float_array, as_generator, check_labels
from ._io import atomic_write
from .fastgrad import mlp_numerical_gradient, network_spec
from .gradient import numerical_gradient
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss
from .util import format_table

__all__ = ["Sequential", "TwoLayerNet", "MultiLayerNet"]

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid}

#: Weight-initialisation names and the variance numerator they use: std = sqrt(k / fan_in).
WEIGHT_INIT_SCALES = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}


class Sequential:
    """Layers applied in order, ending in a loss layer.

    Parameters
    ----------
    *layers : layer objects
        Anything with ``forward(x)`` and ``backward(dout)``; ``params``/``grads``/``buffers`` dicts
        are read when present. ``train`` is passed only to layers whose ``forward`` accepts it, so
        a textbook-style layer of your own works here as it is.
    loss : layer, optional
        The last layer, ``forward(x, t) -> float`` and ``backward(dout=1.0)``. A new
        ``SoftmaxWithLoss()`` by default.
    weight_decay_lambda : float
        L2 weight decay lambda: 0.5 * lambda * sum(W**2) over every weight ``W{k}`` (not biases,
        not batch-norm parameters) is added to the loss and lambda * W to its gradient.

    Attributes
    ----------
    layers : list
        All layers, the loss layer last (also ``last_layer`` / ``loss_layer``).
    params : dict[str, ndarray]
        See the module docstring.
    dtype : numpy.dtype
        The parameters' dtype (float64 if there are none); inputs are cast to it once.
    """

    def __init__(self, *layers, loss=None, weight_decay_lambda: float = 0.0) -> None:
        loss = SoftmaxWithLoss() if loss is None else loss
        for i, layer in enumerate([*layers, loss]):
            if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
                what = "loss" if i == len(layers) else f"layers[{i}]"
                raise TypeError(
                    f"{what}: expected a layer with forward and backward, got {type(layer).__name__}"
                )
        if not (_is_real(weight_decay_lambda) and weight_decay_lambda >= 0):
            raise ValueError(f"weight_decay_lambda: expected a number >= 0, got {weight_decay_lambda!r}")
        self.layers = [*layers, loss]
        self.weight_decay_lambda = float(weight_decay_lambda)
        self._takes_train = [_accepts(layer.forward, "train") for layer in layers]
        # Layers whose forward/backward write into a given array (out=): loss_and_gradient hands
        # them buffers of its own, so that a training step allocates almost nothing.
        self._forward_out = [_accepts(layer.forward, "out") for layer in layers]
        self._backward_out = [_accepts(layer.backward, "out") for layer in self.layers]
        self._scratch: dict[tuple, np.ndarray] = {}
        self._param_slots = _number_slots(self.layers, "params")
        self._buffer_slots = _number_slots(self.layers, "buffers")
        clash = set(self._param_slots) & set(self._buffer_slots)
        if clash:
            raise ValueError(f"layers: parameter and buffer names collide: {sorted(clash)}")
        self.params: dict[str, np.ndarray] = {
            name: layer.params[key] for name, (layer, key) in self._param_slots.items()
        }
        self._decayed = [name for name, (_, key) in self._param_slots.items() if key == "W"]
        dtypes = {p.dtype for p in self.params.values()}
        if len(dtypes) > 1:
            seen = ", ".join(f"{name} {p.dtype}" for name, p in self.params.items())
            raise ValueError(f"layers: expected parameters of one dtype, got {seen}")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float64)

    @property
    def last_layer(self):
        """The loss layer (the textbook's name)."""
        return self.layers[-1]

    loss_layer = last_layer

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers[:-1])
        decay = f", weight_decay_lambda={self.weight_decay_lambda}" if self.weight_decay_lambda else ""
        return f"{type(self).__name__}({inner}, loss={self.last_layer!r}{decay})"

    # ------------------------------------------------------------------ forward
    def _as_input(self, x) -> np.ndarray:
        return as_float_array("x", x).astype(self.dtype, copy=False)

    def predict(self, x, train: bool = False) -> np.ndarray:
        """Return the scores before the softmax.

        Parameters
        ----------
        x : array_like, shape (N, ...)
            Cast to the network's dtype (no copy when it already has it).
        train : bool
            Training-mode behaviour for dropout and batch norm (the textbook's ``train_flg``).

        Returns
        -------
        ndarray, shape (N, C), the network's dtype
        """
        out = self._as_input(x)
        for layer, takes_train in zip(self.layers[:-1], self._takes_train, strict=True):
            out = layer.forward(out, train=train) if takes_train else layer.forward(out)
        return out

    def _weight_decay_loss(self) -> float:
        if not self.weight_decay_lambda:
            return 0.0
        total = sum(float(np.vdot(self.params[name], self.params[name])) for name in self._decayed)
        return 0.5 * self.weight_decay_lambda * total

    def loss(self, x, t, train: bool = False) -> float:
        """Return the loss of the batch (plus weight decay) as a float.

        Parameters
        ----------
        x : array_like, shape (N, ...)
        t : array_like
            Integer labels (N,) or one-hot targets (N, C).
        train : bool
            As in :meth:`predict`.
        """
        return self.last_layer.forward(self.predict(x, train), t) + self._weight_decay_loss()

    def accuracy(self, x, t) -> float:
        """Return the fraction of samples whose highest score is the teacher's class (inference mode).

        Parameters
        ----------
        x : array_like, shape (N, ...)
        t : array_like
            Integer labels (N,) or one-hot targets (N, C).
        """
        y = self.predict(x)
        n, c = y.shape
        t = np.asarray(t)
        if t.shape == (n, c):
            t = np.argmax(t, axis=1)
        elif t.shape == (n,):
            t = check_labels("t", t, c)
        else:
            raise ValueError(
                f"t: expected labels of shape ({n},) or one-hot targets of shape ({n}, {c}), got {t.shape}"
            )
        return float(np.mean(np.argmax(y, axis=1) == t))

    # ----------------------------------------------------------------- backward
    def loss_and_gradient(self, x, t) -> tuple[float, dict[str, np.ndarray]]:
        """One forward pass in training mode and one backward pass.

        Parameters
        ----------
        x : array_like, shape (N, ...)
        t : array_like
            Integer labels (N,) or one-hot targets (N, C).

        Returns
        -------
        loss : float
            The forward pass's loss, weight decay included.
        grads : dict[str, ndarray]
            Keyed like ``params``, the same shapes and dtype. The arrays are the layers' gradient
            buffers (weight decay's lambda * W is added into them), overwritten by the next call:
            use them before calling again, or copy them.

        The activations and the gradients between layers go to buffers the network keeps (one set
        per batch shape) and are never handed out, so nothing the caller holds is overwritten.
        """
        out = self._as_input(x)
        hidden = self.layers[:-1]
        for i, layer in enumerate(hidden):
            kwargs = {"train": True} if self._takes_train[i] else {}
            out = self._into_buffer(("forward", i), layer.forward, out, self._forward_out[i], kwargs)
        loss_layer = self.last_layer
        loss = loss_layer.forward(out, t) + self._weight_decay_loss()
        dout = self._into_buffer(("backward", len(hidden)), loss_layer.backward, 1.0,
                                 self._backward_out[-1], {}, like=out)
        for i in range(len(hidden) - 1, 0, -1):
            dout = self._into_buffer(("backward", i), hidden[i].backward, dout, self._backward_out[i], {})
        if hidden:
            first = hidden[0]
            # Nobody needs the gradient with respect to the input data: skip its matmul.
            if isinstance(first, Affine) or _accepts(first.backward, "input_grad"):
                first.backward(dout, input_grad=False)
            else:
                first.backward(dout)
        grads = {name: layer.grads[key] for name, (layer, key) in self._param_slots.items()}
        if self.weight_decay_lambda:
            for name in self._decayed:
                decay = self._buffer(("decay", name), grads[name])
                np.multiply(self.params[name], self.weight_decay_lambda, out=decay)
                grads[name] += decay
        return loss, grads

    def _buffer(self, key: tuple, like: np.ndarray) -> np.ndarray:
        """A scratch array of ``like``'s shape and dtype, the same one on every call with this key."""
        buf = self._scratch.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self._scratch[key] = np.empty_like(like)
        return buf

    def _into_buffer(self, key: tuple, method, arg, takes_out: bool, kwargs: dict,
                     like: np.ndarray | None = None) -> np.ndarray:
        """``method(arg, out=buffer, **kwargs)`` with this step's buffer for ``key``.

        The buffer is the result the method returned the first time it saw an input of this shape
        (``like``'s shape when the argument is a scalar), so no layer needs to say its output
        shape beforehand. Layers without ``out=`` are called as they are.
        """
        if not takes_out:
            return method(arg, **kwargs)
        shaped = arg if like is None else like
        full_key = (*key, shaped.shape, shaped.dtype)
        buf = self._scratch.get(full_key)
        if buf is not None:
            return method(arg, out=buf, **kwargs)
        result = method(arg, **kwargs)
        # Adopt only an array of its own: never the input, nor a view of something else.
        if isinstance(result, np.ndarray) and result is not arg and result.base is None:
            if len(self._scratch) > 16 * len(self.layers):  # many batch shapes seen: start afresh
                self._scratch.clear()
            self._scratch[full_key] = result
        return result

    def gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of the loss by backpropagation, keyed like ``params`` (fresh copies, safe to keep)."""
        _, grads = self.loss_and_gradient(x, t)
        return {name: g.copy() for name, g in grads.items()}

    def numerical_gradient(self, x, t, h: float = 1e-4, *, method: str = "auto",
                           threads: int | None = None) -> dict[str, np.ndarray]:
        """Gradients of the loss by central differences, (L(w + h) - L(w - h)) / 2h per element.

        Every method computes that same quantity from loss values at perturbed points (none is
        backprop in disguise); they differ in how much work they repeat:

        - ``"naive"``: the textbook's loop, the whole network evaluated twice per element.
        - ``"general"``: the same loop, but the layers below the perturbed one are evaluated once
          and cached. Works for every network; gives bit-for-bit the naive result.
        - ``"fast"``: :mod:`scratchnet.fastgrad`, for Affine/Sigmoid/Relu stacks ending in
          SoftmaxWithLoss (TwoLayerNet, and MultiLayerNet without batch norm or dropout). Computed
          in float64 whatever the network's dtype, hundreds of times faster than the loop.
        - ``"auto"`` (default): ``"fast"`` where it applies, else ``"general"``.

        The loss is evaluated in training mode, the function ``loss_and_gradient`` differentiates:
        batch norm uses the batch's statistics, and dropout layers keep one mask throughout (the
        last one drawn). Batch-norm running statistics are left as they were.

        Parameters
        ----------
        x : array_like, shape (N, ...)
        t : array_like, labels (N,) or one-hot (N, C)
        h : float
            The step.
        method : {"auto", "fast", "general", "naive"}
        threads : int, optional
            Worker threads of the fast path (the result does not depend on them).

        Returns
        -------
        dict[str, ndarray]
            Keyed like ``params``, each of its parameter's shape and dtype.
        """
        methods = ("auto", "fast", "general", "naive")
        if method not in methods:
            raise ValueError(f"method: expected one of {methods}, got {method!r}")
        x = self._as_input(x)
        if method in ("auto", "fast"):
            found = network_spec(self)
            if found is not None:
                spec, names = found
                grads = mlp_numerical_gradient(spec, x, t, h, threads=threads)
                out = {}
                for (w_name, b_name), (dW, db) in zip(names, grads, strict=True):
                    out[w_name] = dW.astype(self.dtype, copy=False)
                    out[b_name] = db.astype(self.dtype, copy=False)
                return {name: out[name] for name in self.params}
            if method == "fast":
                raise ValueError(
                    "method: 'fast' takes Affine layers with Sigmoid/Relu between them ending in "
                    f"SoftmaxWithLoss; this network has {[type(layer).__name__ for layer in self.layers]} "
                    "(use 'general')"
                )

        saved = {name: buf.copy() for name, buf in self._buffers().items()}
        with contextlib.ExitStack() as stack:
            for layer in self.layers:
                if isinstance(layer, Dropout):
                    stack.enter_context(layer.fixed_mask())
            try:
                if method == "naive":
                    def loss_w(_):  # reads the perturbed parameter through the network, as the book's does
                        return self.loss(x, t, train=True)

                    return {name: numerical_gradient(loss_w, p, h) for name, p in self.params.items()}
                return self._cached_numerical_gradient(x, t, h)
            finally:
                for name, buf in self._buffers().items():
                    buf[...] = saved[name]

    def _forward_from(self, k: int, out: np.ndarray) -> np.ndarray:
        """Run hidden layers k, k+1, ... in training mode on ``out`` (the input of layer k)."""
        for layer, takes_train in zip(self.layers[k:-1], self._takes_train[k:], strict=True):
            out = layer.forward(out, train=True) if takes_train else layer.forward(out)
        return out

    def _cached_numerical_gradient(self, x: np.ndarray, t, h: float) -> dict[str, np.ndarray]:
        """The textbook loop, with the layers below the perturbed one evaluated only once."""
        hidden = self.layers[:-1]
        inputs = []  # inputs[k]: what layer k receives; it does not depend on layer k's parameters
        out = x
        for k in range(len(hidden)):
            inputs.append(out)
            out = self._forward_layer(k, out)
        grads: dict[str, np.ndarray] = {}
        for name, (layer, key) in self._param_slots.items():
            k = next(i for i, candidate in enumerate(hidden) if candidate is layer)

            def loss_w(_, k=k):
                scores = self._forward_from(k, inputs[k])
                return self.last_layer.forward(scores, t) + self._weight_decay_loss()

            grads[name] = numerical_gradient(loss_w, layer.params[key], h)
        return {name: grads[name] for name in self.params}

    def _forward_layer(self, k: int, out: np.ndarray) -> np.ndarray:
        layer = self.layers[k]
        return layer.forward(out, train=True) if self._takes_train[k] else layer.forward(out)

    # -------------------------------------------------------------------- state
    def _buffers(self) -> dict[str, np.ndarray]:
        return {name: layer.buffers[key] for name, (layer, key) in self._buffer_slots.items()}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer (batch-norm running statistics), by name."""
        state = {name: p.copy() for name, p in self.params.items()}
        state.update((name, b.copy()) for name, b in self._buffers().items())
        return state

    def load_state_dict(self, state: dict, *, source: str = "state_dict") -> None:
        """Copy values into the existing arrays; refuse missing or unexpected names and other shapes.

        Nothing is changed unless every entry fits. Values of another float dtype are cast.
        ``source`` names the origin in error messages (``load`` passes the file's path).

        Raises
        ------
        ValueError
            Naming the missing and unexpected keys, or each array of the wrong shape.
        TypeError
            For a non-float array.
        """
        targets = {**self.params, **self._buffers()}
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
        for name, dst in targets.items():
            np.copyto(dst, values[name], casting="same_kind")

    def save(self, path: str | os.PathLike) -> None:
        """Write ``state_dict()`` to ``path`` as an .npz archive (exactly that name), atomically.

        The archive is written to a temporary file beside ``path`` and renamed over it, so a crash
        never leaves a half-written file under the final name.
        """
        state = self.state_dict()
        atomic_write(os.path.abspath(os.fspath(path)), lambda f: np.savez(f, **state), binary=True)

    def load(self, path: str | os.PathLike) -> None:
        """Load parameters saved by :meth:`save` (``allow_pickle=False``), strictly; see load_state_dict."""
        path = os.fspath(path)
        try:
            archive = np.load(path, allow_pickle=False)
        except ValueError as e:  # not a NumPy file at all (np.load takes it for a pickle)
            raise ValueError(f"{path}: expected an .npz archive written by save(): {e}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: expected an .npz archive written by save(), got a single .npy array")
        with archive:
            state = {name: archive[name] for name in archive.files}
        self.load_state_dict(state, source=path)

    # ------------------------------------------------------------------ summary
    def summary(self) -> str:
        """A table of the layers, their output shapes and parameter counts."""
        names_of: dict[int, list[str]] = {}
        for name, (layer, _) in self._param_slots.items():
            names_of.setdefault(id(layer), []).append(name)
        rows = [("#", "layer", "output", "params", "")]
        features = "..."
        for i, layer in enumerate(self.layers, 1):
            params = getattr(layer, "params", {})
            w = params.get("W")
            if w is not None and w.ndim == 2:
                features = str(w.shape[1])
            output = "loss (float)" if layer is self.last_layer else f"(N, {features})"
            count = sum(p.size for p in params.values())
            shapes = ", ".join(f"{n} {self.params[n].shape}" for n in names_of.get(id(layer), []))
            rows.append((str(i), repr(layer), output, f"{count:,}", shapes))
        lines = [f"{type(self).__name__} (dtype {self.dtype.name})", *format_table(rows)]
        total = sum(p.size for p in self.params.values())
        lines.append(f"total parameters: {total:,}")
        if self.weight_decay_lambda:
            lines.append(f"weight decay lambda {self.weight_decay_lambda} on {', '.join(self._decayed)}")
        return "\n".join(lines)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _accepts(method, name: str) -> bool:
    """Whether ``method`` takes a parameter called ``name`` (``train``, ``out``)."""
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


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


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


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
    if not _is_real(weight_init_std) or weight_init_std < 0:
        raise ValueError(f"weight_init_std: expected a number >= 0 or a name, got {weight_init_std!r}")
    return float(weight_init_std)


def _affine(rng: np.random.Generator, fan_in: int, fan_out: int, weight_init_std, dtype: np.dtype) -> Affine:
    # Drawn in float64 and then cast, so a float32 net is the rounded float64 net of the same seed.
    W = (_weight_std(weight_init_std, fan_in) * rng.standard_normal((fan_in, fan_out))).astype(dtype)
    return Affine(W, np.zeros(fan_out, dtype=dtype))


def _pack(layers: list, dtype: np.dtype) -> None:
    """Move the layers' parameters into one contiguous buffer, and their gradients into another.

    Each array becomes a view of its buffer, values unchanged, in the order the network names
    them, so that an optimiser can update every parameter in a few NumPy calls instead of a few per
    parameter (see ``scratchnet.optimizers``). Only for networks that create their own parameters:
    arrays a caller handed in stay the very objects they gave.
    """
    slots = [(layer, key) for layer in layers for key in getattr(layer, "params", {})]
    total = sum(layer.params[key].size for layer, key in slots)
    params, grads = np.empty(total, dtype=dtype), np.zeros(total, dtype=dtype)
    start = 0
    for layer, key in slots:
        p = layer.params[key]
        stop = start + p.size
        view = params[start:stop].reshape(p.shape)
        view[...] = p
        layer.params[key] = view
        layer.grads[key] = grads[start:stop].reshape(p.shape)
        start = stop


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
        The source of the initial weights; the same seed gives the same network.
    dtype : float32 or float64
    loss_form : {"fused", "textbook"}
        See :class:`SoftmaxWithLoss`.

    Parameters are named W1, b1, W2, b2.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, weight_init_std=0.01,
                 activation: str = "sigmoid", *, seed=None, dtype=np.float64,
                 loss_form: str = "fused") -> None:
        sizes = [_check_size(n, v) for n, v in
                 (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size))]
        dtype = _check_dtype(dtype)
        act = _activation(activation)
        rng = as_generator("seed", seed)
        layers = [
            _affine(rng, sizes[0], sizes[1], weight_init_std, dtype),
            act(),
            _affine(rng, sizes[1], sizes[2], weight_init_std, dtype),
        ]
        _pack(layers, dtype)
        super().__init__(*layers, loss=SoftmaxWithLoss(loss_form))
        self.input_size, self.hidden_size, self.output_size = sizes
        self.activation = activation.lower()

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
        Inverted dropout (see :class:`Dropout`).
    use_batchnorm : bool
        Parameters gamma{k} (ones) and beta{k} (zeros) for hidden layer k.
    seed : int, numpy.random.Generator or None
        The source of the weights and the dropout masks.
    dtype : float32 or float64
    loss_form : {"fused", "textbook"}

    Parameters are named W1, b1, ..., W{L+1}, b{L+1} and gamma1, beta1, ... for L hidden layers.
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std="relu", weight_decay_lambda: float = 0,
                 use_dropout: bool = False, dropout_ratio: float = 0.5, use_batchnorm: bool = False,
                 *, seed=None, dtype=np.float64, loss_form: str = "fused") -> None:
        input_size = _check_size("input_size", input_size)
        output_size = _check_size("output_size", output_size)
        widths_given = isinstance(hidden_size_list, (Sequence, np.ndarray))
        if isinstance(hidden_size_list, (str, bytes)) or not widths_given:
            raise TypeError(f"hidden_size_list: expected a list of layer widths, got {hidden_size_list!r}")
        hidden = [_check_size(f"hidden_size_list[{i}]", n) for i, n in enumerate(hidden_size_list)]
        dtype = _check_dtype(dtype)
        act = _activation(activation)
        rng = as_generator("seed", seed)
        sizes = [input_size, *hidden, output_size]
        affines = [_affine(rng, fan_in, fan_out, weight_init_std, dtype)
                   for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)]
        layers = []
        for affine, width in zip(affines[:-1], hidden, strict=True):
            layers.append(affine)
            if use_batchnorm:
                layers.append(BatchNormalization(np.ones(width, dtype=dtype), np.zeros(width, dtype=dtype)))
            layers.append(act())
            if use_dropout:
                layers.append(Dropout(dropout_ratio, seed=rng))
        layers.append(affines[-1])
        _pack(layers, dtype)
        super().__init__(*layers, loss=SoftmaxWithLoss(loss_form), weight_decay_lambda=weight_decay_lambda)
        self.input_size, self.hidden_size_list, self.output_size = input_size, hidden, output_size
        self.hidden_layer_num = len(hidden)
        self.activation = activation.lower()
        self.use_dropout, self.dropout_ratio = bool(use_dropout), dropout_ratio
        self.use_batchnorm = bool(use_batchnorm)

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
