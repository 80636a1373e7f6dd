"""Input checks shared by the whole package.

Every public function validates its arguments with these helpers, so that bad input fails with a
message that names the argument, what was seen and what was expected, instead of NumPy silently
broadcasting or wrapping around.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def as_float_array(name: str, x) -> np.ndarray:
    """Return ``x`` as a floating-point array.

    Floating arrays keep their dtype (float32 stays float32). Booleans and integers, including
    uint8 images, become float64 so that arithmetic never wraps around.

    Raises
    ------
    TypeError
        If ``x`` is complex, a string or an object array.
    """
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")


def check_labels(name: str, t, num_classes: int) -> np.ndarray:
    """Validate integer class labels and return them as an ``intp`` array.

    Parameters
    ----------
    name : str
        The argument's name, used in error messages.
    t : array_like of int
        Labels, any shape.
    num_classes : int
        Labels must lie in ``[0, num_classes)``.

    Raises
    ------
    TypeError
        If ``t`` is not of an integer dtype (floats and booleans are refused: NumPy would index
        with them silently or not at all).
    ValueError
        If a label is outside ``[0, num_classes)``; the message gives the first offending index.
    """
    arr = np.asarray(t)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    if arr.size:
        bad = np.flatnonzero((arr < 0) | (arr >= num_classes))
        if bad.size:
            i = int(bad[0])
            where = np.unravel_index(i, arr.shape) if arr.ndim > 1 else i
            raise ValueError(
                f"{name}: expected labels in [0, {num_classes}), got {arr.flat[i]} at index {where}"
            )
    return arr.astype(np.intp, copy=False)


def label_column_as_vector(t: np.ndarray, scores_shape: tuple[int, ...]) -> np.ndarray:
    """Integer labels of shape (N, 1) as shape (N,), for scores (N, C) with C > 1; any other ``t`` as it is.

    The book's chapter 7 gradient check passes ``t`` of shape (1, 1). With C == 1 an (N, 1) array
    is also one-hot targets, and stays so.
    """
    if (t.ndim == 2 and len(scores_shape) == 2 and t.shape == (scores_shape[0], 1)
            and scores_shape[1] != 1 and t.dtype.kind in "iu"):
        return t.reshape(scores_shape[0])
    return t


def check_nonempty_batch(name: str, x: np.ndarray) -> None:
    """Refuse an array whose batch axis (axis 0) is empty."""
    if x.ndim >= 1 and x.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty batch, got shape {x.shape}")


def check_callable(name: str, f) -> None:
    """Refuse a non-callable ``f``."""
    if not callable(f):
        raise TypeError(f"{name}: expected a callable, got {type(f).__name__}")


class GlobalGenerator:
    """NumPy's global generator (``np.random.seed``'s), behind the Generator methods scratchnet calls.

    What a network or layer draws with no seed given comes from here, so ``np.random.seed(n)`` at
    the top of a script repeats the run, and draws made in the book's order give the book's very
    numbers: ``standard_normal(shape)`` is ``np.random.randn(*shape)``, ``random(shape)`` is
    ``np.random.rand(*shape)``, ``integers(0, n, k)`` is ``np.random.randint(0, n, k)`` (and
    ``np.random.choice(n, k)``), ``permutation(n)`` is ``np.random.permutation(n)``.
    ``bit_generator.state`` reads and sets ``np.random.get_state(legacy=False)``, so checkpoints
    store and restore it like a Generator's.
    """

    def __repr__(self) -> str:
        return "GlobalGenerator(np.random)"

    @staticmethod
    def standard_normal(size=None):
        return np.random.standard_normal(size)

    @staticmethod
    def random(size=None):
        return np.random.random_sample(size)

    @staticmethod
    def integers(low, high=None, size=None):
        return np.random.randint(low, high, size)

    @staticmethod
    def permutation(x):
        return np.random.permutation(x)

    @property
    def bit_generator(self) -> _GlobalState:
        return _GlobalState()


class _GlobalState:
    """``state``: NumPy's global generator state as a dict (MT19937 key and position, cached gaussian)."""

    @property
    def state(self) -> dict:
        state = np.random.get_state(legacy=False)
        state["state"]["key"] = state["state"]["key"].tolist()  # plain ints: it goes to JSON
        return state

    @state.setter
    def state(self, value: dict) -> None:
        np.random.set_state(value)


#: The one adapter over NumPy's global generator.
GLOBAL_GENERATOR = GlobalGenerator()


def as_generator(name: str, seed) -> np.random.Generator | GlobalGenerator:
    """Return the source of random numbers for ``seed``: a Generator, or NumPy's global generator.

    Parameters
    ----------
    name : str
        The argument's name, used in error messages.
    seed : int >= 0, numpy.random.Generator, GlobalGenerator or None
        A Generator is returned as it is (so draws advance the caller's stream); an int gives a
        reproducible Generator; None gives :data:`GLOBAL_GENERATOR`, so that ``np.random.seed(n)``
        makes the draws reproducible, as the book's scripts expect.
    """
    if isinstance(seed, (np.random.Generator, GlobalGenerator)):
        return seed
    if seed is None:
        return GLOBAL_GENERATOR
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(seed)
    raise TypeError(f"{name}: expected an int >= 0, a numpy.random.Generator or None, got {seed!r}")


def is_real(value) -> bool:
    """True for a real number (Python or NumPy int or float), False for bools and everything else."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (numbers.Real, np.integer, np.floating))


def check_real(name: str, value, *, low: float = -math.inf, high: float = math.inf,
               low_open: bool = True, high_open: bool = True) -> float:
    """Return ``value`` as a float after checking it is a finite real number in the given interval.

    Raises TypeError for a non-number (or a bool), ValueError outside the interval.
    """
    if not is_real(value):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    ok_low = v > low if low_open else v >= low
    ok_high = v < high if high_open else v <= high
    if not (math.isfinite(v) and ok_low and ok_high):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name}: expected a finite number in {left}{low}, {high}{right}, got {value!r}")
    return v


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float after checking it is a finite number > 0 (ValueError if not)."""
    if not (is_real(value) and 0 < value < math.inf):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def check_nonnegative(name: str, value, *, expected: str = "a finite number >= 0") -> float:
    """Return ``value`` as a float after checking it is a finite number >= 0 (ValueError if not)."""
    if not (is_real(value) and 0 <= value < math.inf):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return float(value)


def check_bool(name: str, value) -> bool:
    """Return ``value`` as a bool after checking it is one (True, False, a NumPy bool, or the ints 0 and 1).

    Raises TypeError for anything else, such as the string ``"no"``, which ``bool()`` would take as True.
    """
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")


def check_ratio(name: str, value) -> float:
    """Return ``value`` as a float after checking it is a number in [0, 1) (a dropout ratio).

    Raises TypeError for a non-number (or a bool, or a string such as ``"0.5"``), ValueError outside [0, 1).
    """
    if not is_real(value):
        raise TypeError(f"{name}: expected a number in [0, 1), got {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{name}: expected a value in [0, 1), got {value}")
    return float(value)


def check_positive_int(name: str, value, *, allow_none: bool = False) -> int | None:
    """Return ``value`` as an int after checking it is an integer >= 1 (or None, if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_step(h, name: str = "h") -> float:
    """Return a finite-difference step as a float after checking it is a finite real number > 0.

    Raises TypeError for a non-number (or a bool), ValueError for 0, a negative, NaN or inf.
    """
    if not is_real(h):
        raise TypeError(f"{name}: expected a positive step (a real number), got {type(h).__name__} {h!r}")
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"{name}: expected a positive step, got {h}")
    return float(h)


def check_float64_params(name: str, params) -> None:
    """Refuse parameters that are not float64, as a gradient check needs (ValueError naming each).

    ``params``: a mapping of parameter names to arrays.
    """
    wrong = [f"{k} {np.asarray(p).dtype}" for k, p in params.items() if np.asarray(p).dtype != np.float64]
    if wrong:
        raise ValueError(
            f"{name}: a gradient check needs float64 parameters (float32 rounding swamps the differences), "
            f"got {', '.join(wrong)}; build it with dtype=np.float64"
        )
