"""Sequences whose items are made when read, from columns kept beside them.

A large workload's mappings, a column's re-placed mappings, a scheme's
groups and their explanations are kept as columns (lists or arrays of
numbers), and an object for an item is made only when a reader asks for it
(most outputs read a few, or read the columns).  :class:`LazySequence` is
the one ``Sequence`` protocol for them: a subclass gives ``__len__`` and
``_make(index)``; indexing (negative from the end), slicing (a tuple, as of
the tuple the sequence reads as) and iteration come from here.
:class:`CachedSequence` keeps each item made, so that every read of it gives
the same object and makes it once.

>>> class Squares(LazySequence[int]):
...     def __len__(self) -> int:
...         return 4
...     def _make(self, index: int) -> int:
...         return index * index
>>> s = Squares()
>>> s[-1], s[1:3], list(s), 9 in s
(9, (1, 4), [0, 1, 4, 9], True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class LazySequence(Sequence[T]):
    """Items made by :meth:`_make` on every read."""

    __slots__ = ()

    def __len__(self) -> int:
        raise NotImplementedError

    def _make(self, index: int) -> T:
        """Item ``index`` (``0 <= index < len(self)``)."""
        raise NotImplementedError

    def _item(self, index: int) -> T:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._make(index)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return tuple(map(self._item, range(*index.indices(len(self)))))
        return self._item(index)

    def __iter__(self) -> Iterator[T]:
        return map(self._item, range(len(self)))


class CachedSequence(LazySequence[T]):
    """Each item made once, on its first read, and kept."""

    __slots__ = ("_made",)

    def __init__(self, n: int) -> None:
        self._made: list[T | None] = [None] * n

    def __len__(self) -> int:
        return len(self._made)

    def _item(self, index: int) -> T:
        item = self._made[index]  # IndexError as a list's
        if item is None:
            if index < 0:
                index += len(self._made)
            item = self._made[index] = self._make(index)
        return item


class TupleSequence(CachedSequence[T]):
    """Equal to the tuple of its items, and to another of its class with the
    same items; unhashable, as a list is."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (type(self), tuple)):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


__all__ = ["CachedSequence", "LazySequence", "TupleSequence"]
