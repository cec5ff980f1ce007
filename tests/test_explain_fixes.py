"""``explain``'s fixes measured together (``ptcalc.model.explain.batch``)
equal the reference: the changed workload evaluated by the model, one fix
at a time (``find(cell, slow=True)``, what explain did before).

Every figure compared here is the model's own evaluation of a changed
workload; the batch must agree with it finding for finding, fix for fix.
"""

import sys
from pathlib import Path

from hypothesis import given, note, settings
from test_model_properties import VARIANTS, describe, options_for, workloads

from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.model.explain.rules import find
from ptcalc.workload.loader import loads_workload

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import workloads as bench  # noqa: E402


def cells(w, opts, scheme, columns=CONFIGURED):
    ev = evaluate(w, Options(schemes=(scheme,), columns=columns, file_cached_threshold=opts.file_cached_threshold,
                             mshare_variant=opts.mshare_variant))
    return ev.selected_cell(scheme)


def assert_same(cell):
    fast = find(cell)
    slow = find(cell, slow=True)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert a == b
    return {f.kind for x in fast for f in ([x.fix] if x.fix else []) + list(x.alternatives)}


@settings(max_examples=150)
@given(workloads(max_groups=3))
def test_batch_equals_one_evaluation_per_fix(w):
    note(describe(w))
    for scheme, overrides in VARIANTS:
        assert_same(cells(w, options_for(w, overrides), scheme))


def test_batch_equals_one_evaluation_per_fix_on_the_benchmark_shapes():
    # distinct mappings (scan's block style, private mappings) and the big
    # workload's repeated, half auto, partly misaligned mappings
    kinds = set()
    for text in (bench.distinct(groups=3, per_group=30), bench.big(groups=6, per_group=20)):
        w = loads_workload(text)
        for scheme, overrides in VARIANTS:
            for columns in (CONFIGURED, 2 << 20):
                kinds |= assert_same(cells(w, options_for(w, overrides), scheme, columns))
    assert kinds >= {"move", "grow", "hugetlb-pages", "protection"}, kinds  # the kinds measured on arrays
