"""Array backends for the model: numpy, or a pure-Python stand-in for tiny inputs.

:mod:`ptcalc.model` is written once against the namespace returned here
(``xp.where``, ``xp.lexsort``, array operators, ...).  A workload of a few
mappings runs on :mod:`ptcalc.xp._pure` and never imports numpy -- importing
numpy takes longer than the whole computation of the seed scenario; a large
one runs on numpy.  Both give identical results (``tests/test_xp.py`` runs the
model on both over the property-test workloads).

>>> namespace_of([]).NAME, backend("python").NAME
('numpy', 'python')
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ptcalc.xp import _pure

SMALL = 512
"""Largest input (rows plus touched pieces) computed in pure Python by default."""

BACKENDS = ("numpy", "python")


def backend(name: str) -> ModuleType:
    """The namespace called ``name`` (``numpy`` imports numpy)."""
    if name == "python":
        return _pure
    if name == "numpy":
        from ptcalc.xp import _numpy

        return _numpy
    raise ValueError(f"unknown array backend {name!r}; choose from {', '.join(BACKENDS)}")


def for_size(n: int) -> ModuleType:
    """The backend for an input of ``n`` elements: pure Python up to :data:`SMALL`."""
    return _pure if n <= SMALL else backend("numpy")


def namespace_of(*arrays: Any) -> ModuleType:
    """The backend an array belongs to (numpy for anything but a pure-Python array)."""
    for a in arrays:
        if isinstance(a, _pure.PyArray):
            return _pure
    return backend("numpy")


__all__ = ["BACKENDS", "SMALL", "backend", "for_size", "namespace_of"]
