"""The numpy backend of :mod:`ptcalc.model.xp`: numpy itself, plus the few helpers
the model needs under one name in both backends."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy import (  # noqa: F401  (re-exported: the backend's namespace)
    arange,
    argsort as _argsort,
    asarray as _asarray,
    concatenate,
    cumsum,
    full,
    lexsort,
    maximum,
    minimum,
    ones,
    repeat,
    searchsorted,
    select,
    sort,
    unique,
    where,
    zeros,
)

NAME = "numpy"

int8 = np.int8
int16 = np.int16
int32 = np.int32
int64 = np.int64
bool_ = np.bool_


def asarray(values: Any, dtype: Any = None) -> np.ndarray:
    """An array of ``values`` (default int64, as the model counts in int64)."""
    if dtype is None and not isinstance(values, np.ndarray):
        dtype = np.int64
    return _asarray(values, dtype=dtype)


def fromiter(values: Iterable[Any], dtype: Any, count: int) -> np.ndarray:
    """An array of the ``count`` values an iterator yields: no list in
    between (twice as fast as a list and ``asarray`` for 100,000 Python ints)."""
    return np.fromiter(values, dtype=dtype, count=count)


def argsort(a: np.ndarray) -> np.ndarray:
    """Stable sort order."""
    return _argsort(a, kind="stable")


def fits(bound: int) -> bool:
    """Whether values up to ``bound`` (a Python int) fit the backend's integers."""
    return bound < (1 << 62)


def interleave(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Element 0 of every array, then element 1 of every array, ..."""
    return np.stack(arrays, axis=1).reshape(-1)


def cummax(a: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(a)


def unique_index(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values, and the index of each one's first occurrence."""
    return np.unique(a, return_index=True)  # type: ignore[no-any-return]


def unique_inverse(a: np.ndarray) -> np.ndarray:
    """For each element, the rank of its value among the distinct values."""
    _, inv = np.unique(a, return_inverse=True)
    return inv.reshape(-1).astype(np.int64)


def group_sum(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per owner id 0..n-1, the exact int64 sum of its values (no float
    bincount: counts stay integers)."""
    out = np.zeros(n, dtype=np.int64)
    if owner.size > 64:
        # by runs of one owner (the model's owners come contiguous): a
        # reduceat over the runs, then one add per run
        starts = np.flatnonzero(owner[1:] != owner[:-1])
        starts += 1
        starts = np.concatenate([np.zeros(1, np.int64), starts])
        np.add.at(out, owner[starts], np.add.reduceat(values, starts, dtype=np.int64))
        return out
    np.add.at(out, owner, values)
    return out


def argsort_any(a: np.ndarray) -> np.ndarray:
    """A sort order, equal values in any order (numpy's fastest sort)."""
    return _argsort(a)


__all__ = [
    "NAME", "arange", "argsort", "argsort_any", "asarray", "bool_", "concatenate", "cummax", "cumsum", "fits",
    "fromiter", "full", "group_sum", "int8", "int64", "interleave", "lexsort", "maximum", "minimum", "ones",
    "repeat", "searchsorted", "select", "sort", "unique", "unique_index", "unique_inverse", "where", "zeros",
]
