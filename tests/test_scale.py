"""Scale: exact integers at 1 PiB x 10^9 processes, and a closed-form model
whose work does not depend on segment size or process count."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ptcalc.model import xp
from ptcalc.model.geometry import X86_64_LA57
from ptcalc.model.budget import budget
from ptcalc.cli import main
from ptcalc.model.layout import Layout
from ptcalc.model.tables import SCHEMES, count, cut, resident_bytes, zones
from ptcalc.workload.types import Host, Mapping, ModelOptions, ProcessGroup, Segment, Workload
from ptcalc.model import xp as backends

pure = backends.backend("python")

KiB, GiB, TiB, PiB = 1 << 10, 1 << 30, 1 << 40, 1 << 50
ROOT = Path(__file__).resolve().parent.parent


def one_segment(size, processes, address=256 * TiB):
    """One shmem segment of ``size`` on 4 KiB pages, mapped whole and touched
    whole by ``processes`` processes, 5-level paging."""
    return Workload(
        host=Host(memory=64 * PiB, arch=X86_64_LA57),
        segments={"pool": Segment("pool", size, "shmem", 4 * KiB)},
        groups=(ProcessGroup("workers", processes,
                             (Mapping("pool", 0, size, address, touched=((0, size),)),)),),
    )


@pytest.mark.parametrize("backend", xp.BACKENDS)
def test_1_pib_times_a_billion_processes_is_exact(backend):
    # 1 PiB from a 256 TiB boundary, 4 KiB pages, 5 levels: one process owns
    # 2^50/2 MiB = 2^29 PTE tables, 2^50/1 GiB = 2^20 PMD, 2^50/512 GiB = 2^11
    # PUD, 2^50/256 TiB = 4 P4D tables and its PGD, 4 KiB each.
    w = one_segment(PiB, 10**9)
    layout = Layout.from_workload(w, backend=backend)
    r = count(layout, zones(layout, "private", w.options))
    per_process = (2**29 + 2**20 + 2**11 + 4 + 1) * 4 * KiB
    assert r.groups[0].per_process_bytes == per_process
    # 10^9 x ~2 PiB of page tables: about 2.2e21 bytes, far past int64 (9.2e18)
    assert r.physical_bytes == 10**9 * per_process
    assert r.physical_bytes > 2**63
    assert type(r.physical_bytes) is int and type(r.tables["pte"]) is int
    assert r.tables["pte"] == 10**9 * 2**29
    b = budget(w, r, {"pool": PiB})
    assert b.demand_bytes == PiB + 10**9 * per_process + 10**9 * w.host.process_overhead
    assert b.verdict == "oom" and b.max_processes == (64 * PiB - PiB) // (per_process + w.host.process_overhead)


def test_the_cli_reports_exact_bytes_past_int64():
    r = CliRunner().invoke(main, ["estimate", "-", "--format", "json", "--scheme", "private"],
                           input="host: {memory: 64PiB, arch: x86_64-la57}\n"
                           "segments:\n  pool: {size: 1PiB}\n"
                           "processes:\n- count: 1000000000\n  mappings:\n"
                           "  - {segment: pool, address: 0x1000000000000}\n")
    assert r.exit_code == 0, r.output
    cell = json.loads(r.output)["cells"][0]
    # the pool: 2^29 PTE + 2^20 PMD + 2^11 PUD + 4 P4D tables and a PGD per
    # process; and each process's default layout below 2^47 (the default map
    # window even with 5-level paging): program 5 + libraries 16 + stack 1 PTE
    # tables, 2 PMD, 2 PUD, and the P4D table of the first 256 TiB: 27
    own = 5 + 16 + 1 + 2 + 2 + 1
    assert cell["page_tables"]["physical_bytes"] == 10**9 * (2**29 + 2**20 + 2**11 + 4 + 1 + own) * 4 * KiB


class Counter:
    """Counts the pure-Python backend's work: calls, and elements produced."""

    def __init__(self, monkeypatch):
        self.calls = 0
        self.elements = 0
        real_init = pure.PyArray.__init__

        def init(array, values):
            self.calls += 1
            self.elements += len(values)
            real_init(array, values)

        monkeypatch.setattr(pure.PyArray, "__init__", init)


def model_work(w, monkeypatch):
    """Every array the model builds for ``w`` (all schemes, both mshare
    variants): how many, how many elements in all, and their sizes."""
    counter = Counter(monkeypatch)
    sizes = []
    layout = Layout.from_workload(w, backend="python")
    resident_bytes(layout)
    for scheme in SCHEMES:
        for variant in ("v3", "ptshare"):
            z = zones(layout, scheme, ModelOptions(mshare_variant=variant))
            p = cut(layout, z)
            sizes.append((layout.n_rows, layout.piece_row.size, p.row.size))
            count(layout, z)
    monkeypatch.undo()
    return counter.calls, counter.elements, sizes


def test_the_models_work_does_not_depend_on_size_or_process_count(monkeypatch):
    # The same shape of workload -- one segment, mapped whole and touched
    # whole -- at 1 GiB x 1 process and 1 PiB x 10^9 processes (both from a
    # 256 TiB boundary): the model builds the same number of arrays, of the
    # same sizes, element for element.  Its cost is a function of the number
    # of mappings, never of bytes or processes.
    small = model_work(one_segment(GiB, 1), monkeypatch)
    huge = model_work(one_segment(PiB, 10**9), monkeypatch)
    assert small == huge
    assert small[0] > 100  # it did count something
    # and a workload with more mappings does more work: the counter sees it
    two = one_segment(GiB, 1)
    g = two.groups[0]
    two = Workload(two.host, two.segments, (ProcessGroup("workers", 1, g.mappings + (
        Mapping("pool", 0, GiB, 512 * TiB, touched=((0, GiB),)),)),))
    assert model_work(two, monkeypatch)[1] > small[1]
