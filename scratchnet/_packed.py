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
