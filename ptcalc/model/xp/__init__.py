"""Array backends for the model: numpy, or a pure-Python stand-in for tiny inputs.

:mod:`ptcalc.model.tables` is written once against the namespace returned here
(``xp.where``, ``xp.lexsort``, array operators, ...).  A workload of a few
mappings runs on :mod:`ptcalc.model.xp._pure` and never imports numpy -- importing
numpy takes longer than the whole computation of the seed scenario; a large
one runs on numpy.  Both give identical results (``tests/test_xp.py`` runs the
model on both over the property-test workloads).

>>> namespace_of([]).NAME, backend("python").NAME
('numpy', 'python')
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from ptcalc.model.xp import _pure

SMALL = 512
"""Largest input (rows plus touched pieces) computed in pure Python by default."""

TUNE_PROCESS = False
"""Set by :func:`tune_process` (the command line, which owns its process)."""

_prepared = False


def tune_process() -> None:
    """Tune this process for ptcalc's array work; for a program that owns its
    process (the command line), not for a library caller.

    numpy gets one BLAS thread (ptcalc does no linear algebra; the threads
    spin at numpy's import); and before numpy is first used through
    :func:`backend`, glibc's malloc is told to keep freed memory rather than
    unmap and fault it in again between array operations (a 100,000-mapping
    estimate spent 0.1 s more in page faults).
    """
    global TUNE_PROCESS
    TUNE_PROCESS = True
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _prepare_numpy() -> None:
    global _prepared
    if _prepared or not TUNE_PROCESS:
        return
    _prepared = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (or no libc symbols): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc <malloc.h>
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 256 << 20)

BACKENDS = ("numpy", "python")


def backend(name: str) -> ModuleType:
    """The namespace called ``name`` (``numpy`` imports numpy)."""
    if name == "python":
        return _pure
    if name == "numpy":
        _prepare_numpy()
        from ptcalc.model.xp import _numpy

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
