"""Packed parameters: a network's arrays as views of one flat buffer, with the layout said out loud.

A network that owns its parameters (``TwoLayerNet``, ``MultiLayerNet``) moves them into one flat
buffer and its gradients into another, laid out alike by one :class:`ParamLayout` (names, shapes,
offsets, computed once). ``net.params`` and the gradient dicts it returns are then
:class:`PackedDict` objects: ordinary dicts of arrays that also carry that layout and their flat
buffer. An elementwise optimiser that receives two of them with the same layout updates every
parameter in one pass over the flat buffers (the numbers are those of a step per parameter).
Nothing here looks at memory addresses: the handle is given, never guessed. See docs/speed.md.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Mapping, Sequence

import numpy as np


class ParamLayout:
    """Where each named array lives in a flat buffer: from ``offsets[i]``, ``shapes[i]``, in ``dtype``."""

    def __init__(self, names: Sequence[str], shapes: Sequence[tuple[int, ...]], dtype) -> None:
        self.names = tuple(names)
        self.shapes = tuple(tuple(s) for s in shapes)
        self.dtype = np.dtype(dtype)
        sizes = [math.prod(s) for s in self.shapes]
        self.offsets = tuple(int(o) for o in np.cumsum([0, *sizes[:-1]]))
        self.size = sum(sizes)
        self._slices = tuple(zip([slice(o, o + n) for o, n in zip(self.offsets, sizes)], self.shapes))

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}{s}@{o}" for n, s, o in zip(self.names, self.shapes, self.offsets))
        return f"ParamLayout({parts}; {self.size} {self.dtype.name})"

    def views(self, flat: np.ndarray) -> tuple[np.ndarray, ...]:
        """The arrays of ``flat`` (1-D, ``size`` elements), one per name."""
        return tuple([flat[part].reshape(shape) for part, shape in self._slices])

    def zeros(self) -> PackedDict:
        """A new flat buffer of zeros, as a PackedDict."""
        return self.wrap(np.zeros(self.size, dtype=self.dtype))

    def wrap(self, flat: np.ndarray) -> PackedDict:
        """``flat`` (1-D, ``size`` elements of ``dtype``) as a PackedDict of its views."""
        views = self.views(flat)
        return PackedDict(zip(self.names, views), self, flat, views)

    def pack(self, arrays: Mapping[str, np.ndarray]) -> PackedDict:
        """A new flat buffer holding a copy of ``arrays`` (keyed by this layout's names)."""
        packed = self.zeros()
        for name, view in packed.items():
            view[...] = arrays[name]
        return packed


class PackedDict(dict):
    """A dict of arrays that also says where they live: ``layout`` and the 1-D buffer ``flat``.

    ``intact()`` is True while the values are still the views of ``flat`` the layout gives, in the
    layout's order; a caller who rebinds or removes an entry turns it False, and an optimiser then
    updates the arrays one by one, as for any dict.
    """

    __slots__ = ("layout", "flat", "_views")

    def __init__(self, items, layout: ParamLayout, flat: np.ndarray, views: tuple[np.ndarray, ...]) -> None:
        super().__init__(items)
        self.layout, self.flat, self._views = layout, flat, views

    def intact(self) -> bool:
        return len(self) == len(self._views) and all(map(operator.is_, self.values(), self._views))

    def rewrap(self, items) -> PackedDict:
        """A new PackedDict of ``items`` with this one's layout and buffer (intact if they are its views)."""
        return PackedDict(items, self.layout, self.flat, self._views)


def packed_pair(params: Mapping, grads: Mapping) -> tuple[ParamLayout, np.ndarray, np.ndarray] | None:
    """``(layout, P, G)`` when params and grads are intact PackedDicts of one layout and dtype, else None."""
    layout = getattr(params, "layout", None)
    if (layout is None or getattr(grads, "layout", None) is not layout
            or not (params.intact() and grads.intact()) or params.flat.dtype != grads.flat.dtype):
        return None
    return layout, params.flat, grads.flat


def copy_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copies of every array; an intact PackedDict is copied as one buffer and stays packed."""
    if isinstance(arrays, PackedDict) and arrays.intact():
        return arrays.layout.wrap(arrays.flat.copy())
    return {name: a.copy() for name, a in arrays.items()}


class CopyPool:
    """Copies of gradients for ``gradient()``, written into an earlier copy's buffer once nobody holds it.

    A copy handed out is never written again while anything refers to it, to its buffer or to any
    of its arrays. CPython's reference counts tell exactly when nothing does (NumPy elides
    temporaries on the same evidence); the last ``size`` copies are kept to be reused then, so
    that a loop ``grads = net.gradient(x, t)`` alternates between two buffers still in cache
    instead of writing fresh memory every step. A copy of anything but an intact PackedDict, or a
    kept copy someone altered, is never reused.
    """

    def __init__(self, size: int = 2) -> None:
        self._kept: list[list] = []  # [copy, its reference counts when only this pool held it]
        self._size = size

    def _counts(self, i: int) -> tuple[int, ...]:
        """Reference counts of kept copy i, its buffer and its arrays.

        Always measured here and nowhere else, with no other local name bound to the copy, so
        that two measurements differ only by the references held outside.
        """
        d = self._kept[i][0]
        return (sys.getrefcount(d), sys.getrefcount(d.flat), *map(sys.getrefcount, d._views))

    def copy(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A copy of ``arrays`` (as :func:`copy_arrays`) that nobody else holds."""
        if isinstance(arrays, PackedDict) and arrays.intact():
            for i in range(len(self._kept)):
                if (self._kept[i][0].layout is arrays.layout and self._kept[i][0].intact()
                        and self._counts(i) == self._kept[i][1]):
                    entry = self._kept.pop(i)
                    self._kept.append(entry)  # the most recent last
                    np.copyto(entry[0].flat, arrays.flat)
                    return entry[0]
        new = copy_arrays(arrays)
        if not (isinstance(new, PackedDict) and hasattr(sys, "getrefcount")):
            return new
        self._kept.append([new, None])
        del new  # measured with the pool's reference alone
        self._kept[-1][1] = self._counts(len(self._kept) - 1)
        del self._kept[:-self._size]
        return self._kept[-1][0]
