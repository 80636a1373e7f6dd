"""Optimisers (chapter 6): SGD, Momentum, Nesterov, AdaGrad, RMSProp and Adam.

``optimizer.update(params, grads)`` updates a network's parameters in place; ``params`` and ``grads``
are dicts keyed alike (``W1``, ``b1``, ...) whose arrays are the layers' own, written into (``-=``,
``out=``), never rebound. When both are packed alike (:class:`~scratchnet._packed.PackedDict`, as
TwoLayerNet and MultiLayerNet hand them out) an elementwise rule runs once over the flat buffers.

Every subclass of :class:`Optimizer` is registered under its lower-cased class name:
``get_optimizer("Adam", lr=1e-3)``, case-insensitively. ``state_dict()`` (scalars and arrays named
like ``"v.W1"``, for ``np.savez``) and ``load_state_dict()`` stop and resume a run bit for bit.
Why these forms: docs/training.md; the packed path's numbers: docs/speed.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from ._checks import check_real
from ._packed import PackedDict, packed_pair

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "RMSprop",
    "Adam",
    "OPTIMIZERS",
    "get_optimizer",
]

_REGISTRY: dict[str, type[Optimizer]] = {}

#: The registered optimiser classes by lower-case name (read-only view).
OPTIMIZERS: Mapping[str, type[Optimizer]] = MappingProxyType(_REGISTRY)


class _SavedState:
    """Optimizer's save and restore (``state_dict``/``load_state_dict``), apart from its update."""

    def state_dict(self) -> dict[str, Any]:
        """Return the settings and state as a flat dict, ready for ``np.savez``.

        Returns
        -------
        dict
            :meth:`config`, ``"t"`` (int) and, once the first update has run, a copy of each state
            array as ``"<slot>.<param>"`` (e.g. ``"m.W1"``).
        """
        config = self.config()
        d: dict[str, Any] = {"name": config.pop("name"), "t": self.t, **config}
        for s, arrays in self.state.items():
            for k, a in arrays.items():
                d[f"{s}.{k}"] = a.copy()
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore settings and state saved by :meth:`state_dict` (strict on keys).

        Values may be Python scalars or 0-d arrays (as read back from ``.npz``). The arrays are
        copied. The state must match the parameters at the next update, or that update fails.
        """
        if not isinstance(d, Mapping):
            raise TypeError(f"state: expected a dict saved by state_dict(), got {type(d).__name__}")
        name = d.get("name")
        if name is not None and str(np.asarray(name)) != type(self).__name__.lower():
            raise ValueError(f"state: saved by optimizer {str(np.asarray(name))!r}, "
                             f"cannot load into {type(self).__name__}")
        state = _saved_slots(d, self.slots, {"name", "t", *self.hyperparameters})
        t = np.asarray(d["t"])
        if t.ndim != 0 or t.dtype.kind not in "iu" or int(t) < 0:
            raise ValueError(f"state['t']: expected a non-negative integer, got {d['t']!r}")
        # Validate every value before changing anything, so a bad dict leaves self untouched.
        values = {h: check_real(f"state[{h!r}]", np.asarray(d[h]).item(), low=-math.inf)
                  for h in self.hyperparameters}
        new = type(self)(**values)
        for h in self.hyperparameters:
            setattr(self, h, getattr(new, h))
        self.t = int(t)
        self.state = state
        self._tmp = {}
        self._fast = None


class Optimizer(_SavedState):
    """Base class: a gradient step applied to a dict of parameter arrays, in place.

    Subclasses set ``hyperparameters`` (the names of their scalar settings, stored as attributes),
    ``slots`` (the names of their per-parameter state arrays, e.g. ``("v",)``) and implement
    ``_step(param, grad, slots, tmp)``. Defining a subclass registers it under its lower-cased
    class name; pass ``register=False`` in the class statement to opt out.

    A subclass whose ``_step`` works element by element (each output element depends only on the
    same element of its inputs, and ``tmp`` is written before it is read) may set
    ``elementwise = True``: ``_step`` may then be called once on all parameters laid end to end.
    A class that defines ``_step`` without saying so is not elementwise.

    Attributes
    ----------
    t : int
        The number of updates applied so far.
    state : dict[str, dict[str, ndarray]]
        Per-parameter state, ``state[slot][param_name]``, created at the first update with the
        shape and dtype of each parameter.
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ("lr",)
    slots: ClassVar[tuple[str, ...]] = ()
    elementwise: ClassVar[bool] = False

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_step" in cls.__dict__ and "elementwise" not in cls.__dict__:
            cls.elementwise = False
        for slot in cls.slots:  # the book's attribute names: Momentum.v, AdaGrad.h, Adam.m, ...
            if not hasattr(cls, slot):
                setattr(cls, slot, _slot_property(slot))
        if not register:
            return
        key = cls.__name__.lower()
        if key in _REGISTRY:
            raise TypeError(
                f"optimizer name {key!r} is already registered by {_REGISTRY[key].__qualname__}; "
                "rename the class or define it with register=False"
            )
        _REGISTRY[key] = cls

    def __init__(self, lr: float) -> None:
        self.lr = check_real("lr", lr, low=0.0)
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._tmp: dict[str, np.ndarray] = {}
        self._flat_tmp: np.ndarray | None = None
        self._fast: tuple | None = None  # what the last packed update checked (see update)

    def __repr__(self) -> str:
        args = ", ".join(f"{h}={getattr(self, h)!r}" for h in self.hyperparameters)
        return f"{type(self).__name__}({args})"

    # -- the update -------------------------------------------------------------------------

    def update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Apply one step to every array of ``params``, in place.

        Parameters
        ----------
        params : dict[str, ndarray of float]
            The network's parameters; each array is written into, never replaced.
        grads : mapping[str, ndarray]
            The gradient of the loss for each parameter, keyed and shaped like ``params``.
        """
        fast = self._fast
        if fast is not None and params is fast[0] and self._same_as_last(fast, grads):
            # The params, layout and state checked at the last update: one step over the flat buffers.
            self.t += 1
            self._begin_step()
            self._step(params.flat, grads.flat, fast[3], fast[4])
            return
        self._check(params, grads)
        packed = self._packed_arrays(params, grads) if self.elementwise else None
        if packed is not None:
            self._fast = (params, params.layout, tuple(self.state[s] for s in self.slots), *packed[2:])
        self.t += 1
        self._begin_step()
        if packed is not None:
            self._step(*packed)
            return
        state, slots, scratch = self.state, self.slots, self._tmp
        for key, p in params.items():
            tmp = scratch.get(key)
            if tmp is None or tmp.shape != p.shape or tmp.dtype != p.dtype:
                tmp = scratch[key] = np.empty_like(p)
            self._step(p, grads[key], tuple([state[s][key] for s in slots]), tmp)

    def _same_as_last(self, fast: tuple, grads) -> bool:
        """Whether this update may skip the checks: the PackedDicts and state of the last packed one.

        ``fast`` is (params, layout, state dicts, flat state arrays, flat scratch); params is
        fast[0]. A rebound entry anywhere, or new state (``load_state_dict``), says no.
        """
        params, layout, state = fast[0], fast[1], fast[2]
        if type(grads) is not PackedDict or grads.layout is not layout:
            return False
        if not (params.intact() and grads.intact()):
            return False
        return all(self.state.get(s) is d and d.intact() for s, d in zip(self.slots, state))

    def _check(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Check params, grads and the state against each other; create the state at the first update.

        Every check comes before the first write, so a bad argument leaves the parameters as they
        were. They are cheap next to the arithmetic: attribute reads, no NumPy calls.
        """
        for what, d in (("params", params), ("grads", grads)):
            if not isinstance(d, Mapping):
                got = type(d).__name__
                raise TypeError(f"{what}: expected a dict of arrays by parameter name, got {got}")
        if grads.keys() != params.keys():
            _check_keys("grads", grads, params)
        for key, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(f"params[{key!r}]: expected a floating NumPy array, got "
                                f"{type(p).__name__} {getattr(p, 'dtype', '')}".rstrip())
            g = grads[key]
            shape = g.shape if isinstance(g, np.ndarray) else np.shape(g)
            if shape != p.shape:
                raise ValueError(f"grads[{key!r}]: expected shape {p.shape}, got {shape}")
        if self.slots and not self.state:
            self.state = {s: {k: np.zeros_like(p) for k, p in params.items()} for s in self.slots}
        for s in self.slots:
            arrays = self.state[s]
            if arrays.keys() != params.keys():
                _check_keys(f"optimizer state {s!r}", arrays, params)
            for k, p in params.items():
                if arrays[k].shape != p.shape:
                    raise ValueError(f"optimizer state {s}.{k}: has shape {arrays[k].shape}, "
                                     f"but params[{k!r}] has shape {p.shape}")

    def _packed_arrays(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]):
        """``(P, G, slots, tmp)``, flat buffers holding every parameter, gradient and state array, or None.

        Only when params and grads are intact PackedDicts of one layout (see scratchnet._packed).
        The state is then kept in that layout too: packed at the first such update, or copied once
        into it after ``load_state_dict``.
        """
        pair = packed_pair(params, grads)
        if pair is None:
            return None
        layout, P, G = pair
        slots = []
        for s in self.slots:
            arrays = self.state[s]
            if not (isinstance(arrays, PackedDict) and arrays.layout is layout and arrays.intact()):
                arrays = self.state[s] = layout.pack(arrays)
            slots.append(arrays.flat)
        tmp = self._flat_tmp
        if tmp is None or tmp.shape != P.shape or tmp.dtype != P.dtype:
            tmp = self._flat_tmp = np.empty_like(P)
        return P, G, tuple(slots), tmp

    def _begin_step(self) -> None:
        """Hook run once per update after ``t`` is incremented (Adam's bias correction)."""

    def _step(self, p: np.ndarray, g: np.ndarray, slots: tuple[np.ndarray, ...], tmp: np.ndarray) -> None:
        raise NotImplementedError

    # -- saving and restoring ---------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The registry name (``"name"``) and every hyperparameter: what rebuilds this optimiser.

        ``get_optimizer(**opt.config())`` gives an optimiser with the same settings and no state.
        """
        return {"name": type(self).__name__.lower(), **{h: getattr(self, h) for h in self.hyperparameters}}


def _slot_property(slot: str) -> property:
    """A read-only view of ``state[slot]``: dict keyed like params, None before the first update."""
    return property(lambda self: self.state.get(slot), doc=f"The book's ``{slot}``: ``state[{slot!r}]``, "
                    "a dict keyed like params (None before the first update).")


def _check_keys(what: str, got: Mapping, params: Mapping) -> None:
    if got.keys() != params.keys():
        missing = sorted(set(params) - set(got))
        unexpected = sorted(set(got) - set(params))
        raise ValueError(f"{what}: expected the keys of params {sorted(params)}, "
                         f"missing {missing}, unexpected {unexpected}")


def _saved_slots(d: Mapping[str, Any], slots: tuple[str, ...], scalars: set[str]) -> dict[str, dict]:
    """Copies of the state arrays in a saved dict, ``{slot: {param: array}}``, after checking its keys."""
    missing = sorted(scalars - {"name"} - set(d))
    state: dict[str, dict[str, np.ndarray]] = {}
    unexpected = []
    for key, value in d.items():
        if key in scalars:
            continue
        slot, dot, param = key.partition(".")
        if not dot or slot not in slots:
            unexpected.append(key)
            continue
        state.setdefault(slot, {})[param] = np.array(value, copy=True)
    if missing or unexpected:
        raise ValueError(f"state: missing keys {missing}, unexpected keys {sorted(unexpected)}")
    if state:
        params_seen = [set(state.get(s, {})) for s in slots]
        if any(p != params_seen[0] for p in params_seen):
            raise ValueError(f"state: slots {list(slots)} name different parameters: "
                             f"{[sorted(p) for p in params_seen]}")
    return state


def _adaptive_step(p: np.ndarray, direction: np.ndarray, h: np.ndarray, lr: float, eps: float,
                   tmp: np.ndarray) -> None:
    """p <- p - lr * direction / (sqrt(h) + eps), through the scratch buffer ``tmp``."""
    np.sqrt(h, out=tmp)
    tmp += eps
    np.divide(direction, tmp, out=tmp)
    tmp *= lr
    p -= tmp


class SGD(Optimizer):
    """Stochastic gradient descent: W <- W - lr * dW.

    Parameters
    ----------
    lr : float
        The learning rate (> 0). The textbook's default, 0.01.
    """

    elementwise = True

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def _step(self, p, g, slots, tmp):
        np.multiply(g, self.lr, out=tmp)
        p -= tmp


class Momentum(Optimizer):
    """SGD with momentum: v <- momentum * v - lr * dW;  W <- W + v.

    Parameters
    ----------
    lr : float
        The learning rate (> 0), default 0.01.
    momentum : float
        The velocity's decay, in [0, 1), default 0.9.
    """

    hyperparameters = ("lr", "momentum")
    slots = ("v",)
    elementwise = True

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = check_real("momentum", momentum, low=0.0, high=1.0, low_open=False)

    def _step(self, p, g, slots, tmp):
        (v,) = slots
        v *= self.momentum
        np.multiply(g, self.lr, out=tmp)
        v -= tmp
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the form that needs the gradient at W only.

    With the look-ahead point as the stored parameter (Bengio et al. 2012,
    https://arxiv.org/abs/1212.0901, section 3.5; Sutskever et al. 2013):
    v <- momentum * v - lr * dW;  W <- W + momentum * v - lr * dW.

    The textbook's class adds ``momentum**2 * v`` after updating ``v``, which scales the old
    velocity by momentum**3 instead of momentum**2; we follow the paper.

    Parameters
    ----------
    lr : float
        The learning rate (> 0), default 0.01.
    momentum : float
        In [0, 1), default 0.9.
    """

    elementwise = True

    def _step(self, p, g, slots, tmp):
        (v,) = slots
        v *= self.momentum
        np.multiply(g, self.lr, out=tmp)
        v -= tmp
        p -= tmp
        np.multiply(v, self.momentum, out=tmp)
        p += tmp


class AdaGrad(Optimizer):
    """AdaGrad: h <- h + dW * dW;  W <- W - lr * dW / (sqrt(h) + eps).

    Duchi et al. 2011, https://jmlr.org/papers/v12/duchi11a.html.

    Parameters
    ----------
    lr : float
        The learning rate (> 0), default 0.01.
    eps : float
        Guards the division (> 0), default 1e-7 as in the textbook.
    """

    hyperparameters = ("lr", "eps")
    slots = ("h",)
    elementwise = True

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.eps = check_real("eps", eps, low=0.0)

    def _step(self, p, g, slots, tmp):
        (h,) = slots
        np.multiply(g, g, out=tmp)
        h += tmp
        _adaptive_step(p, g, h, self.lr, self.eps, tmp)


class RMSProp(Optimizer):
    """RMSProp: h <- decay_rate * h + (1 - decay_rate) * dW * dW;  W <- W - lr * dW / (sqrt(h) + eps).

    Tieleman and Hinton 2012, lecture 6.5 of "Neural Networks for Machine Learning".

    Parameters
    ----------
    lr : float
        The learning rate (> 0), default 0.01.
    decay_rate : float
        The running average's decay, in [0, 1), default 0.99 as in the textbook.
    eps : float
        Guards the division (> 0), default 1e-7.
    """

    hyperparameters = ("lr", "decay_rate", "eps")
    slots = ("h",)
    elementwise = True

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.decay_rate = check_real("decay_rate", decay_rate, low=0.0, high=1.0, low_open=False)
        self.eps = check_real("eps", eps, low=0.0)

    def _step(self, p, g, slots, tmp):
        (h,) = slots
        h *= self.decay_rate
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.decay_rate
        h += tmp
        _adaptive_step(p, g, h, self.lr, self.eps, tmp)


#: The book spells it ``RMSprop``; one class, two names.
RMSprop = RMSProp


class Adam(Optimizer):
    """Adam: bias-corrected running averages of the gradient and its square.

    Kingma and Ba 2014, https://arxiv.org/abs/1412.6980, in the form of the end of its section 2
    (the bias corrections folded into the step size), as the textbook writes it::

        m <- m + (1 - beta1) * (dW - m)
        v <- v + (1 - beta2) * (dW * dW - v)
        lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        W <- W - lr_t * m / (sqrt(v) + eps)

    Parameters
    ----------
    lr : float
        The step size (> 0), default 0.001.
    beta1, beta2 : float
        Decay of the first and second moment averages, in [0, 1); defaults 0.9 and 0.999.
    eps : float
        Guards the division (> 0), default 1e-7 as in the textbook (the paper writes 1e-8).
    """

    hyperparameters = ("lr", "beta1", "beta2", "eps")
    slots = ("m", "v")
    elementwise = True

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7
    ) -> None:
        super().__init__(lr)
        self.beta1 = check_real("beta1", beta1, low=0.0, high=1.0, low_open=False)
        self.beta2 = check_real("beta2", beta2, low=0.0, high=1.0, low_open=False)
        self.eps = check_real("eps", eps, low=0.0)
        self._lr_t = 0.0

    @property
    def iter(self) -> int:
        """The book's name of ``t``: the number of updates so far."""
        return self.t

    def _begin_step(self) -> None:
        self._lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.t) / (1.0 - self.beta1**self.t)

    def _step(self, p, g, slots, tmp):
        m, v = slots
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta1
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.beta2
        v += tmp
        _adaptive_step(p, m, v, self._lr_t, self.eps, tmp)


def get_optimizer(name: str, **kwargs: Any) -> Optimizer:
    """Build a registered optimiser by name (case-insensitive).

    Parameters
    ----------
    name : str
        ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``, or the
        name of any other registered subclass.
    **kwargs
        Passed to the class, e.g. ``lr=0.1``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected an optimizer name (str), got {type(name).__name__}")
    cls = _REGISTRY.get(name.lower())
    if cls is None:
        raise ValueError(f"optimizer: unknown name {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return cls(**kwargs)
