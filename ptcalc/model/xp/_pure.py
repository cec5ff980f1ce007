"""A pure-Python stand-in for the few numpy operations the model uses.

Small workloads (the seed scenario: one group, one mapping) need a handful
of array operations on arrays of a few elements; importing numpy for them
costs more than the whole run.  This module implements exactly the subset of
numpy that :mod:`ptcalc.model.tables` uses, on Python lists of Python ints and
bools, with numpy's semantics (floor division and modulo round towards minus
infinity in both).  It is not a general array library: 1-D arrays only,
elementwise operations between equal-length arrays or an array and a scalar.

The model is written once, against :mod:`ptcalc.model.xp`; a test runs it on both
backends over the property-test workloads and requires identical results.

>>> a = asarray([5, -3, 8])
>>> (a // 2).tolist(), (a % 3).tolist(), a[a > 0].tolist()
([2, -2, 4], [2, 0, 2], [5, 8])
>>> lexsort((asarray([3, 1, 2]), asarray([1, 0, 1]))).tolist()
[1, 2, 0]
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any

NAME = "python"

# dtype stand-ins: only "is it a boolean" matters to a list of Python values
int8 = "int8"
int64 = "int64"
bool_ = "bool"

Scalar = int  # bools are ints


class PyArray:
    """A 1-D array of Python ints or bools, numpy-like where the model needs it."""

    __slots__ = ("v",)
    __array_priority__ = 1000  # numpy defers to our operators when mixed (it never is, in the model)

    def __init__(self, values: list[Any]) -> None:
        self.v = values

    # -- shape ---------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.v)

    @property
    def shape(self) -> tuple[int]:
        return (len(self.v),)

    def __len__(self) -> int:
        return len(self.v)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.v)

    def __repr__(self) -> str:
        return f"PyArray({self.v!r})"

    def __bool__(self) -> bool:
        raise ValueError("the truth value of an array is ambiguous; use .any() or .all()")

    # -- conversion ------------------------------------------------------------
    def tolist(self) -> list[Any]:
        return list(self.v)

    def copy(self) -> PyArray:
        return PyArray(list(self.v))

    def astype(self, dtype: Any) -> PyArray:
        if dtype == bool_ or dtype is bool:
            return PyArray([bool(x) for x in self.v])
        return PyArray([int(x) for x in self.v])

    # -- reductions --------------------------------------------------------------
    def any(self) -> bool:
        return any(self.v)

    def all(self) -> bool:
        return all(self.v)

    def sum(self) -> int:
        return int(sum(self.v))

    def max(self) -> int:
        return max(self.v)

    def min(self) -> int:
        return min(self.v)

    # -- indexing -----------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, PyArray):
            k = key.v
            if k and type(k[0]) is bool:  # a boolean mask
                if len(k) != len(self.v):
                    raise IndexError("boolean index does not match the array's length")
                return PyArray([x for x, keep in zip(self.v, k) if keep])
            v = self.v
            return PyArray([v[i] for i in k])
        if isinstance(key, slice):
            return PyArray(self.v[key])
        return self.v[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        if not isinstance(key, PyArray):
            raise TypeError("PyArray supports item assignment through an index array only")
        k, v = key.v, self.v
        if k and type(k[0]) is bool:
            k = [i for i, keep in enumerate(k) if keep]
        if isinstance(value, PyArray):
            for i, x in zip(k, value.v):
                v[i] = x
        else:
            for i in k:
                v[i] = value

    # -- elementwise ----------------------------------------------------------------
    def _op(self, other: Any, op: Callable[[Any, Any], Any]) -> PyArray:
        if isinstance(other, PyArray):
            if len(other.v) != len(self.v):
                raise ValueError(f"operands of lengths {len(self.v)} and {len(other.v)}")
            return PyArray(list(map(op, self.v, other.v)))
        return PyArray([op(x, other) for x in self.v])

    def _rop(self, other: Any, op: Callable[[Any, Any], Any]) -> PyArray:
        return PyArray([op(other, x) for x in self.v])

    def __add__(self, o: Any) -> PyArray:
        return self._op(o, operator.add)

    def __radd__(self, o: Any) -> PyArray:
        return self._rop(o, operator.add)

    def __sub__(self, o: Any) -> PyArray:
        return self._op(o, operator.sub)

    def __rsub__(self, o: Any) -> PyArray:
        return self._rop(o, operator.sub)

    def __mul__(self, o: Any) -> PyArray:
        return self._op(o, operator.mul)

    def __rmul__(self, o: Any) -> PyArray:
        return self._rop(o, operator.mul)

    def __floordiv__(self, o: Any) -> PyArray:
        return self._op(o, operator.floordiv)

    def __rfloordiv__(self, o: Any) -> PyArray:
        return self._rop(o, operator.floordiv)

    def __mod__(self, o: Any) -> PyArray:
        return self._op(o, operator.mod)

    def __lshift__(self, o: Any) -> PyArray:
        return self._op(o, operator.lshift)

    def __rshift__(self, o: Any) -> PyArray:
        return self._op(o, operator.rshift)

    def __neg__(self) -> PyArray:
        return PyArray([-x for x in self.v])

    def __lt__(self, o: Any) -> PyArray:  # type: ignore[override]
        return self._op(o, operator.lt)

    def __le__(self, o: Any) -> PyArray:  # type: ignore[override]
        return self._op(o, operator.le)

    def __gt__(self, o: Any) -> PyArray:  # type: ignore[override]
        return self._op(o, operator.gt)

    def __ge__(self, o: Any) -> PyArray:  # type: ignore[override]
        return self._op(o, operator.ge)

    def __eq__(self, o: Any) -> PyArray:  # type: ignore[override]
        return self._op(o, operator.eq)

    def __ne__(self, o: Any) -> PyArray:  # type: ignore[override]
        return self._op(o, operator.ne)

    __hash__ = None  # type: ignore[assignment]

    def __and__(self, o: Any) -> PyArray:
        return self._op(o, operator.and_)

    def __or__(self, o: Any) -> PyArray:
        return self._op(o, operator.or_)

    def __invert__(self) -> PyArray:
        # The model inverts boolean masks only (numpy's ~ on bools is "not").
        return PyArray([not x for x in self.v])


def _vals(x: Any, n: int) -> Sequence[Any]:
    """The values of an array, or a scalar repeated ``n`` times."""
    if isinstance(x, PyArray):
        return x.v
    return [x] * n


def _length(*xs: Any) -> int:
    for x in xs:
        if isinstance(x, PyArray):
            return len(x.v)
    return 1


# -- constructors -------------------------------------------------------------------

def asarray(values: Iterable[Any] | PyArray, dtype: Any = None) -> PyArray:
    """An array of ``values`` (a list, or an array: copied)."""
    out = PyArray(list(values.v if isinstance(values, PyArray) else values))
    return out.astype(dtype) if dtype is not None else out


def fromiter(values: Iterable[Any], dtype: Any, count: int) -> PyArray:
    """An array of the ``count`` values an iterator yields (numpy.fromiter)."""
    out = PyArray(list(values)).astype(dtype)
    if len(out.v) != count:
        raise ValueError(f"expected {count} values, got {len(out.v)}")
    return out


def zeros(n: int, dtype: Any = int64) -> PyArray:
    return PyArray([False if dtype == bool_ or dtype is bool else 0] * n)


def ones(n: int, dtype: Any = int64) -> PyArray:
    return PyArray([True if dtype == bool_ or dtype is bool else 1] * n)


def full(n: int, value: Any, dtype: Any = None) -> PyArray:
    if dtype == bool_ or dtype is bool:
        value = bool(value)
    return PyArray([value] * n)


def arange(n: int) -> PyArray:
    return PyArray(list(range(n)))


# -- elementwise ----------------------------------------------------------------------

def where(cond: PyArray, x: Any, y: Any) -> PyArray:
    n = len(cond.v)
    return PyArray([a if c else b for c, a, b in zip(cond.v, _vals(x, n), _vals(y, n))])


def select(conds: Sequence[Any], choices: Sequence[Any], default: Any) -> PyArray:
    """numpy.select: per element, the choice of the first true condition."""
    n = _length(*conds, *choices)
    cs = [_vals(c, n) for c in conds]
    vs = [_vals(v, n) for v in choices]
    out = []
    for i in range(n):
        for c, v in zip(cs, vs):
            if c[i]:
                out.append(v[i])
                break
        else:
            out.append(default)
    return PyArray(out)


def maximum(a: Any, b: Any) -> PyArray:
    n = _length(a, b)
    return PyArray(list(map(max, _vals(a, n), _vals(b, n))))


def minimum(a: Any, b: Any) -> PyArray:
    n = _length(a, b)
    return PyArray(list(map(min, _vals(a, n), _vals(b, n))))


# -- combining -----------------------------------------------------------------------

def concatenate(arrays: Sequence[PyArray]) -> PyArray:
    out: list[Any] = []
    for a in arrays:
        out.extend(a.v)
    return PyArray(out)


def repeat(a: PyArray, counts: Sequence[int]) -> PyArray:
    """Element i of ``a`` ``counts[i]`` times, in order (numpy.repeat)."""
    return PyArray([x for x, c in zip(a.v, counts) for _ in range(c)])


def interleave(arrays: Sequence[PyArray]) -> PyArray:
    """Element 0 of every array, then element 1 of every array, ..."""
    return PyArray([x for t in zip(*(a.v for a in arrays)) for x in t])


def cumsum(a: PyArray) -> PyArray:
    return PyArray(list(accumulate(a.v)))


def cummax(a: PyArray) -> PyArray:
    return PyArray(list(accumulate(a.v, max)))


def lexsort(keys: Sequence[PyArray]) -> PyArray:
    """Indices that sort by the last key, then the one before, ... (stable)."""
    cols = [k.v for k in reversed(keys)]
    n = len(cols[0]) if cols else 0
    return PyArray(sorted(range(n), key=lambda i: tuple(c[i] for c in cols)))


def fits(bound: int) -> bool:
    """Whether values up to ``bound`` fit the backend's integers: always (Python ints)."""
    return True


def argsort(a: PyArray) -> PyArray:
    """Stable sort order."""
    v = a.v
    return PyArray(sorted(range(len(v)), key=v.__getitem__))


def sort(a: PyArray) -> PyArray:
    return PyArray(sorted(a.v))


def unique(a: PyArray) -> PyArray:
    return PyArray(sorted(set(a.v)))


def unique_index(a: PyArray) -> tuple[PyArray, PyArray]:
    """Sorted distinct values, and the index of each one's first occurrence."""
    first: dict[Any, int] = {}
    for i, x in enumerate(a.v):
        first.setdefault(x, i)
    keys = sorted(first)
    return PyArray(keys), PyArray([first[k] for k in keys])


def unique_inverse(a: PyArray) -> PyArray:
    """For each element, the rank of its value among the distinct values."""
    rank = {x: i for i, x in enumerate(sorted(set(a.v)))}
    return PyArray([rank[x] for x in a.v])


def searchsorted(a: PyArray, v: PyArray) -> PyArray:
    from bisect import bisect_left

    s = a.v
    return PyArray([bisect_left(s, x) for x in v.v])


def group_sum(owner: PyArray, values: PyArray, n: int) -> PyArray:
    """Per owner id 0..n-1, the sum of its values (numpy.add.at)."""
    out = [0] * n
    for o, x in zip(owner.v, values.v):
        out[o] += x
    return PyArray(out)


def argsort_any(a: PyArray) -> PyArray:
    """A sort order, equal values in any order (here: stable)."""
    return argsort(a)
