"""The model side of a process-count sweep, for benchmarks/run.py until
``ptcalc sweep`` exists: load a workload, count its tables once per scheme,
and evaluate page-table bytes at N process counts as array operations (the
model is affine in the count: shared tables + count x the tables one
process owns), exactly, in Python ints where int64 could overflow.

    python benchmarks/model_sweep.py WORKLOAD.yaml N
"""

import sys

from ptcalc.loader import load_workload
from ptcalc.model import SCHEMES, Layout, count, zones


def main() -> None:
    w = load_workload(sys.argv[1])
    n = int(sys.argv[2])
    import numpy as np

    layout = Layout.from_workload(w, backend=None)
    totals = np.arange(1, n + 1, dtype=object)  # Python ints: no overflow whatever the count
    for scheme in SCHEMES:
        r = count(layout, zones(layout, scheme, w.options))
        own = sum(g.per_process_bytes * g.count for g in r.groups)
        shared = r.physical_bytes - own
        per = own // max(w.process_count, 1)
        pt = shared + totals * per
        print(scheme, int(pt[0]), int(pt[-1]))


if __name__ == "__main__":
    main()
