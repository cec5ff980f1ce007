"""ptcalc.sequences: the one Sequence protocol of the items made when read."""

import pytest

from ptcalc.model.explain.types import MappingExplains
from ptcalc.model.results import GroupResults
from ptcalc.model.whatif import ReplacedRows
from ptcalc.sequences import CachedSequence, LazySequence
from ptcalc.workload.types import Mappings, SpecTable


class Squares(LazySequence[int]):
    def __init__(self, n):
        self.n, self.made = n, []

    def __len__(self):
        return self.n

    def _make(self, index):
        self.made.append(index)
        return index * index


class Boxes(CachedSequence[list]):
    def __init__(self, n):
        super().__init__(n)
        self.made = []

    def _make(self, index):
        self.made.append(index)
        return [index]


def test_a_lazy_sequence_reads_as_the_tuple_of_its_items():
    s = Squares(5)
    assert s[0] == 0 and s[4] == 16 and s[-1] == 16 and s[-5] == 0
    assert s[1:4] == (1, 4, 9) and s[::-2] == (16, 4, 0) and s[7:] == ()
    assert tuple(s) == (0, 1, 4, 9, 16) and tuple(reversed(s)) == (16, 9, 4, 1, 0)
    assert 9 in s and 3 not in s and s.index(9) == 3 and s.count(4) == 1
    for bad in (5, -6):
        with pytest.raises(IndexError):
            s[bad]
    s.made.clear()
    s[2], s[2]
    assert s.made == [2, 2]  # made on every read


def test_a_cached_sequence_makes_each_item_once():
    b = Boxes(3)
    assert len(b) == 3 and b.made == []
    first = b[1]
    assert b[1] is first and b[-2] is first and b[0:2] == ([0], [1]) and b[0:2][1] is first
    assert list(b) == [[0], [1], [2]] and b.made == [1, 0, 2]
    for bad in (3, -4):
        with pytest.raises(IndexError):
            b[bad]


@pytest.mark.parametrize("cls", [MappingExplains, GroupResults, ReplacedRows, Mappings, SpecTable])
def test_the_lazy_sequences_of_the_package_share_the_base(cls):
    assert issubclass(cls, LazySequence)
    assert "__getitem__" not in vars(cls)


def test_a_tuple_sequence_equals_the_tuple_of_its_items():
    from ptcalc.sequences import TupleSequence

    class Squares(TupleSequence[int]):
        __slots__ = ()

        def _make(self, index: int) -> int:
            return index * index

    assert Squares(3) == (0, 1, 4) and Squares(3) == Squares(3)
    assert Squares(3) != (0, 1) and Squares(3) != [0, 1, 4]  # a list is not the tuple it reads as
    with pytest.raises(TypeError):
        hash(Squares(3))
