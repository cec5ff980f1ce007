"""``explain``: attribution that adds up to the model, rules and fixes derived by hand.

Expected values come from the geometry (x86-64: a PTE table covers 2 MiB, a
PMD table 1 GiB, a PUD table 512 GiB; tables are 4 KiB) and from the cases
model.md verified on a live kernel; the property test checks that explain's
per-mapping and per-pool parts add up to the model's totals on generated
workloads.
"""

from dataclasses import replace

from hypothesis import given, note, settings
from test_model_properties import VARIANTS, describe, options_for, workloads

from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.model.explain import explain as explain_cell
from ptcalc.model.geometry import X86_64
from ptcalc.model.schemes import Why
from ptcalc.render.explain_words import fix_description, note_text, reason_text, vmpte_text
from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload, resolve_addresses

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
T = 4 * KiB  # one table


def wl(segments, *groups, memory=512 * GiB, **opts):
    w = Workload(host=Host(memory=memory, arch=X86_64), segments={s.name: s for s in segments},
                 groups=tuple(groups))
    return replace(w, options=replace(w.options, **opts)) if opts else w


def mp(seg, size, address, offset=0, touch=None, prot="rw", **kw):
    t = size if touch is None else touch
    return Mapping(seg, offset, size, address, prot, touched=((0, t),) if t else (), **kw)


def grp(count, *mappings, name="p"):
    return ProcessGroup(name, count, tuple(mappings))


def explain(w, scheme, opts=None, findings=True):
    """explain on the configured column of ``w``, with model options ``opts``."""
    opts = opts or w.options
    ev = evaluate(w, Options(schemes=(scheme,), columns=CONFIGURED, file_cached_threshold=opts.file_cached_threshold,
                             mshare_variant=opts.mshare_variant))
    return explain_cell(ev.selected_cell(scheme), findings=findings)


def only(findings, rule):
    got = [f for f in findings if f.rule == rule]
    assert len(got) == 1, [(f.rule, f.group, f.mapping) for f in findings]
    return got[0]


# --- the parts add up to the model ------------------------------------------------------

def assert_adds_up(w, scheme, opts, with_findings=False):
    e = explain(w, scheme, opts, findings=with_findings)
    r = e.result
    assert e.totals.total == r.tables  # processes' own x count + pools, per level
    for g, rg in zip(e.groups, r.groups):
        assert g.own == rg.own_tables  # mappings + between mappings + PGD
        assert g.attached == rg.attached_tables
        assert g.per_process_bytes == rg.per_process_bytes
        assert g.vmpte_bytes == rg.vmpte_bytes
        summed = {n: sum(me.own[n] for me in g.mappings) + sum(pe.own[n] for pe in g.private_mappings)
                  + g.between_mappings[n] for n in g.own}
        summed["pgd"] += 1
        assert summed == g.own
    assert sum(p.shared[n] for p in e.pools for n in p.shared) == sum(r.shared_tables.values())
    v = e.vmpte
    assert v.summed_bytes == v.own_bytes + v.attached_bytes  # VmPTE: own + links
    assert v.physical_bytes == v.own_bytes + v.top_bytes + v.pool_bytes  # physical: own + PGD/P4D + pools


@given(workloads())
def test_attribution_adds_up_to_the_model(w):
    note(describe(w))
    for scheme, overrides in VARIANTS:
        assert_adds_up(w, scheme, options_for(w, overrides))


@settings(max_examples=100)
@given(workloads(max_groups=2))
def test_findings_never_fail_and_fixes_save(w):
    note(describe(w))
    for scheme, overrides in VARIANTS:
        e = explain(w, scheme, options_for(w, overrides))
        for f in e.findings:
            for fix in ([f.fix] if f.fix else []) + list(f.alternatives):
                assert fix.saves > 0
                assert fix.physical_before == e.result.physical_bytes


def test_two_mappings_in_one_block_are_a_line_of_their_own():
    # Two 4 KiB mappings of different segments inside one 2 MiB block: the
    # process has one PTE, one PMD, one PUD table, used by both mappings.
    segs = [Segment("a", 4 * KiB, "shmem", 4 * KiB), Segment("b", 4 * KiB, "shmem", 4 * KiB)]
    w = wl(segs, grp(1, mp("a", 4 * KiB, TiB), mp("b", 4 * KiB, TiB + 8 * KiB)))
    e = explain(w, "private")
    g = e.groups[0]
    assert [me.own["pte"] for me in g.mappings] == [0, 0]
    assert g.between_mappings["pte"] == g.between_mappings["pmd"] == g.between_mappings["pud"] == 1
    assert g.own["pte"] == 1


# --- hugetlb-pmd: model.md's verified cases ---------------------------------------------

def hugetlb_2g(count, address, offset=0, prot="rw", name="p"):
    return grp(count, mp("s", 2 * GiB, address, offset, prot=prot), name=name)


SEG = Segment("s", 4 * GiB, "hugetlb", 2 * MiB)


def test_aligned_hugetlb_shares_everything():
    # model.md: aligned 2 GiB in 4 processes -> 2 shared PMD + 4 PUD.
    e = explain(wl([SEG], hugetlb_2g(4, TiB)), "hugetlb-pmd")
    assert [f.rule for f in e.findings] == []
    (pool,) = e.pools
    assert pool.tables["pmd"] == 2 and pool.shared["pmd"] == 2
    (s,) = e.groups[0].mappings[0].sharing
    assert (s.level, s.tables, s.shared, s.attached) == ("pmd", 2, 2, True)


def test_shifted_hugetlb_names_the_partial_windows_and_the_shift_back():
    # model.md: the same shifted by +2 MiB -> 1 shared + 4 x (1 PUD + 2 private PMD) = 13 tables
    # (PGDs aside), against 6 aligned: moving the mapping by -2 MiB saves 7 tables.
    e = explain(wl([SEG], hugetlb_2g(4, TiB + 2 * MiB)), "hugetlb-pmd")
    f = only(e.findings, "partial-window")
    assert f.level == "pmd" and f.tables == {"pmd": 2}
    assert f.ranges == ((TiB + 2 * MiB, TiB + GiB), (TiB + 2 * GiB, TiB + 2 * GiB + 2 * MiB))
    assert "wholly inside" in reason_text(e, f)
    assert f.fix.kind == "move" and f.fix.delta == -2 * MiB
    assert f.fix.new_range == (TiB, TiB + 2 * GiB)
    assert f.fix.saves == 7 * T
    assert f.fix.physical_after == (6 + 4) * T  # + 4 PGDs
    assert e.groups[0].own["pmd"] == 2
    # per zone: the one whole 1 GiB window shares its PMD table, the partial ones at either end do not
    me = e.groups[0].mappings[0]
    assert [(z.kind, z.start, z.end) for z in me.zones] == [
        ("private", TiB + 2 * MiB, TiB + GiB), ("shared-pmd", TiB + GiB, TiB + 2 * GiB),
        ("private", TiB + 2 * GiB, TiB + 2 * GiB + 2 * MiB)]
    assert me.why_pmd == Why.SHARED and me.why_pte == Why.NO_TABLES_AT_LEVEL  # 2 MiB pages have no PTE tables


def test_shifted_down_hugetlb_suggests_plus_2_mib():
    # At 1 TiB - 2 MiB the mapping also straddles the 512 GiB boundary at 1 TiB:
    # each process owns 2 PMD + 2 PUD; 1 window shared.  At +2 MiB: 2 shared PMD
    # and 1 PUD each.  4 processes: (4 x 4 + 1) - (2 + 4) = 11 tables saved.
    e = explain(wl([SEG], hugetlb_2g(4, TiB - 2 * MiB)), "hugetlb-pmd")
    f = only(e.findings, "partial-window")
    assert f.fix.delta == 2 * MiB and fix_description(f.fix).startswith("move the mapping by +2 MiB")
    assert f.fix.saves == 11 * T
    assert [a.delta for a in f.alternatives if a.kind == "move"] == [-(GiB - 2 * MiB)]
    assert all(a.saves <= f.fix.saves or a.change_bytes > f.fix.change_bytes for a in f.alternatives)


def test_groups_with_different_alignment_are_told_to_line_up():
    # model.md: two groups whose file offsets differ by 2 MiB -> no sharing
    # across groups.  Group b maps at 2 TiB + 2 MiB (address - offset = 2 MiB):
    # it shares 1 window within itself, none with group a.  Moving b by -2 MiB
    # joins a's pool: before 2 (a) + 1 (b shared) + 2 x 2 (b's partial windows) = 7 PMD
    # tables, after 2.  (PUD: one per process either way.)
    w = wl([SEG], hugetlb_2g(2, TiB, name="a"), hugetlb_2g(2, 2 * TiB + 2 * MiB, name="b"))
    e = explain(w, "hugetlb-pmd")
    f = only(e.findings, "alignment-differs")
    assert e.groups[f.group].name == "b"
    assert "address - offset = 0" in reason_text(e, f)
    assert f.fix.delta == -2 * MiB and f.fix.saves == 5 * T
    assert all(e.groups[x.group].name == "b" for x in e.findings)


def test_protection_differs():
    # model.md: 2 read-write + 2 read-only processes -> two shared sets (8 tables
    # with the PUDs).  The read-only group is told to map read-write: then one
    # set of 2 PMD tables, saving 2.
    w = wl([SEG], hugetlb_2g(2, TiB, name="writers"), hugetlb_2g(2, TiB, prot="r", name="readers"))
    e = explain(w, "hugetlb-pmd")
    assert sum(p.tables["pmd"] for p in e.pools) == 4
    f = only(e.findings, "protection-differs")
    assert e.groups[f.group].name == "readers"
    assert f.tables == {"pmd": 2}
    assert f.fix.kind == "protection" and f.fix.saves == 2 * T


def test_uffd_wp_blocks_pmd_sharing():
    # uffd_disable_huge_pmd_share(): 3 processes keep 2 private PMD tables each;
    # registering in missing mode only shares them: 6 -> 2.
    w = wl([SEG], grp(3, mp("s", 2 * GiB, TiB, userfaultfd="wp")))
    f = only(explain(w, "hugetlb-pmd").findings, "userfaultfd")
    assert f.fix.kind == "userfaultfd" and f.fix.saves == 4 * T


def test_one_gib_pages_have_nothing_to_share():
    w = wl([Segment("s", 2 * GiB, "hugetlb", GiB)], grp(3, mp("s", 2 * GiB, TiB)))
    f = only(explain(w, "hugetlb-pmd").findings, "no-tables-at-level")
    assert f.fix is None and f.tables == {}


def test_no_whole_window_small_segment():
    # A 512 MiB hugetlb segment has no whole 1 GiB window: no change to the
    # mapping can help, and explain says why.
    w = wl([Segment("s", 512 * MiB, "hugetlb", 2 * MiB)], grp(4, mp("s", 512 * MiB, TiB)))
    f = only(explain(w, "hugetlb-pmd").findings, "no-whole-window")
    assert f.fix is None and f.note == "segment-too-small" and "smaller than one 1 GiB window" in note_text(f)


def test_prot_none_is_named():
    w = wl([SEG], grp(2, mp("s", 2 * GiB, TiB, prot="none", touch=0)))
    f = only(explain(w, "hugetlb-pmd").findings, "prot-none")
    assert f.fix is None and f.tables == {}


# --- the seed: 4 KiB shmem under mainline --------------------------------------------------

def seed(count=1500):
    m = resolve_addresses([(mp("sga", 300 * GiB, 0), True)], X86_64)[0]
    return wl([Segment("sga", 300 * GiB, "shmem", 4 * KiB)], grp(count, m, name="servers"))


def test_seed_under_mainline_says_use_hugetlb():
    # Private: each of 1500 processes owns 300 x 512 PTE + 300 PMD + 1 PUD + 1 PGD.
    # On 2 MiB hugetlb pages: 300 shared PMD tables + 1500 x (1 PUD + 1 PGD).
    e = explain(seed(), "hugetlb-pmd")
    f = only(e.findings, "not-hugetlb")
    assert f.tables == {"pte": 153600, "pmd": 300}
    assert f.fix.kind == "hugetlb-pages"
    assert f.fix.physical_before == 1500 * (153600 + 300 + 1 + 1) * T
    assert f.fix.physical_after == (300 + 1500 * 2) * T


def test_seed_on_hugetlb_explains_why_vmpte_exceeds_physical():
    # model.md section 5: 2 MiB hugetlb with PMD sharing: each process's VmPTE is
    # 300 attached PMD + 1 PUD = 1,204 KiB (sum 1.72 GiB) while physically there
    # are 300 PMD tables once + 1500 PUD (+ 1500 PGD).
    w = seed()
    w = replace(w, segments={"sga": Segment("sga", 300 * GiB, "hugetlb", 2 * MiB)})
    e = explain(w, "hugetlb-pmd")
    v = e.vmpte
    assert e.groups[0].vmpte_bytes == 1204 * KiB
    assert v.summed_bytes == 1500 * 1204 * KiB
    assert v.attached_bytes == 1500 * 300 * T and v.attachments == 1500 * 300
    assert v.linked_bytes == v.pool_bytes == 300 * T
    assert v.top_bytes == 1500 * T
    assert v.physical_bytes == (300 + 1500 + 1500) * T
    assert "exceeds" in vmpte_text(v) and "OOM killer" in vmpte_text(v)


# --- file-cached and mshare ---------------------------------------------------------------

def shmem(size=2 * GiB):
    return Segment("s", size, "shmem", 4 * KiB)


def test_file_cached_misaligned_by_4k():
    # address = 1 TiB + 4 KiB, offset 0: not congruent modulo 2 MiB, so neither
    # PTE nor PMD tables are shared.  The smallest fix is -4 KiB (then congruent
    # modulo 1 GiB too): 2 processes x (1024 PTE + 2 PMD) private ->
    # 1024 PTE + 2 PMD shared; the PUD stays per process (2 -> 1 each, as the
    # mapping no longer reaches into a third 1 GiB window).
    w = wl([shmem(3 * GiB)], grp(2, mp("s", 2 * GiB, TiB + 4 * KiB)))
    e = explain(w, "file-cached")
    f = only(e.findings, "misaligned")
    assert f.level == "pte"
    assert f.fix.delta == -4 * KiB
    # before: each process 1025 PTE + 3 PMD + 1 PUD; after: 1024 + 2 shared, 1 PUD each
    assert f.fix.saves == (2 * (1025 + 3) - (1024 + 2)) * T


def test_file_cached_misaligned_modulo_1g_keeps_pte_sharing():
    # address = 1 TiB - 2 MiB, offset 0: congruent modulo 2 MiB (PTE tables shared),
    # not modulo 1 GiB (PMD tables private): the fix is +2 MiB.
    w = wl([shmem(3 * GiB)], grp(2, mp("s", 2 * GiB, TiB - 2 * MiB)))
    e = explain(w, "file-cached")
    f = only(e.findings, "misaligned")
    assert f.level == "pmd" and f.fix.delta == 2 * MiB


def test_below_threshold():
    # A 3 GiB segment with the threshold at 4 GiB: no sharing; lowering the
    # threshold to 3 GiB shares 3 x 512 PTE + 3 PMD tables between 2 processes.
    w = wl([shmem(3 * GiB)], grp(2, mp("s", 3 * GiB, TiB)), file_cached_threshold=4 * GiB)
    f = only(explain(w, "file-cached").findings, "below-threshold")
    assert f.fix.kind == "threshold" and f.fix.threshold == 3 * GiB and "3 GiB" in fix_description(f.fix)
    assert f.fix.saves == (1536 + 3) * T


def test_mshare_alone():
    w = wl([shmem()], grp(1, mp("s", 2 * GiB, TiB)))
    f = only(explain(w, "mshare").findings, "alone")
    assert f.fix is None


def test_mshare_pools_are_the_host_tree():
    # One region (s, rw): its host mm holds 1024 PTE + 2 PMD + 1 PUD + 1 PGD.
    w = wl([shmem()], grp(3, mp("s", 2 * GiB, TiB)))
    e = explain(w, "mshare")
    (pool,) = e.pools
    assert (pool.tables["pte"], pool.tables["pmd"], pool.tables["pud"], pool.tables["pgd"]) == (1024, 2, 1, 1)
    assert e.findings == ()


# --- mappings' explanations are made when read ----------------------------------------

def test_mappings_are_made_when_read_in_any_order():
    """``GroupExplain.mappings`` reads as the tuple of every mapping's
    explanation, whichever is read first: each is its workload mapping's, and
    ``segment`` names the mapping's segment without making it."""
    segs = [Segment("a", 1 * GiB, "shmem", 4 * KiB), Segment("b", 1 * GiB, "shmem", 4 * KiB)]
    w = wl(segs, grp(2, mp("a", 4 * MiB, 1 * TiB), mp("b", 2 * MiB, 2 * TiB), mp("a", 2 * MiB, 3 * TiB, offset=4 * MiB),
                     name="p"),
           grp(1, mp("b", 6 * MiB, 1 * TiB), name="q"))
    e = explain(w, "private")
    for ge, g in zip(e.groups, w.groups):
        ms = ge.mappings
        assert [ms.segment(i) for i in range(len(ms))] == [m.segment for m in g.mappings]
        backwards = [ms[i] for i in reversed(range(len(ms)))]
        assert [me.mapping for me in reversed(backwards)] == list(g.mappings)
        assert [me.index for me in ms] == list(range(len(g.mappings)))
        assert ms[-1] is ms[len(ms) - 1] and ms[0:2] == tuple(ms)[0:2] and ms == tuple(ms)
        placed = ms.placed()
        for field in ("origin", "segment", "offset", "size", "address", "auto", "protection"):
            assert getattr(placed, field) == [getattr(m, field) for m in g.mappings]
        for field in ("backing", "page_size", "own", "attached", "sharing"):
            assert getattr(placed, field) == [getattr(me, field) for me in ms]
    # private scheme, every page touched: a 4 MiB mapping at a 2 MiB boundary owns 2 PTE tables,
    # 2 MiB owns 1, 6 MiB owns 3 (one PTE table maps 2 MiB)
    assert [me.own["pte"] for me in e.groups[0].mappings] == [2, 1, 1]
    assert e.groups[1].mappings[0].own["pte"] == 3
