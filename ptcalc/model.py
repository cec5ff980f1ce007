"""The closed-form page-table model: interval arithmetic, no page walks.

Given a workload and a scheme, count the page tables every process owns, the
shared tables, and what VmPTE each process shows -- the rules are
docs/semantics.md.  The cost depends on the number of mappings, never on
segment sizes or process counts: every mapping becomes at most five address
zones (private / shared-PTE / shared-upper / shared-PTE / private), every
touched range is cut by those zones into parts, and tables are counted as
distinct blocks of the parts at each level.  The arithmetic is vectorised
over mappings with numpy int64 (addresses and per-process block counts stay
below 2**57); products with process counts are done in Python ints.

>>> from ptcalc.arch import X86_64
>>> from ptcalc.workload import Host, Mapping, ProcessGroup, Segment, Workload
>>> GiB = 1 << 30
>>> w = Workload(host=Host(memory=None, arch=X86_64),
...              segments={"s": Segment("s", GiB, "shmem", 4096)},
...              groups=(ProcessGroup("p", 1, (Mapping("s", 0, GiB, 1 << 40, touched=((0, GiB),)),)),))
>>> r = compute(w, "private")
>>> r.tables["pte"], r.tables["pmd"], r.tables["pud"], r.groups[0].vmpte_bytes // 1024
(512, 1, 1, 2056)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ptcalc.arch import LEVEL_NAMES, VMPTE_LEVELS, Arch
from ptcalc.results import GroupResult, SchemeResult, zero_levels
from ptcalc.workload import BACKINGS, PROTECTIONS, ModelOptions, Workload

SCHEMES: tuple[str, ...] = ("private", "hugetlb-pmd", "mshare", "file-cached")

I64 = np.int64

# Zone numbers, in address order within a mapping (docs/semantics.md section 3).
Z_PRIVATE_HEAD, Z_PTE_HEAD, Z_UPPER, Z_PTE_TAIL, Z_PRIVATE_TAIL = range(5)
ZONE_KIND = np.array([0, 1, 2, 1, 0], dtype=np.int8)  # 0 private, 1 shared-PTE, 2 shared-upper

_BACKING = {b: i for i, b in enumerate(BACKINGS)}
_PROT = {p: i for i, p in enumerate(PROTECTIONS)}
_HUGETLB = _BACKING["hugetlb"]
_PROT_NONE = _PROT["none"]


class Why(IntEnum):
    """Why a mapping's tables at one level are not shared (0: they are)."""

    SHARED = 0
    PRIVATE_SCHEME = 1
    NOT_HUGETLB = 2
    NOT_PMD_PAGES = 3
    ARCH_NO_PMD_SHARE = 4
    PROT_NONE = 5
    USERFAULTFD = 6
    SOFT_DIRTY = 7
    BELOW_THRESHOLD = 8
    MISALIGNED = 9
    NO_WHOLE_WINDOW = 10
    NO_TABLES_AT_LEVEL = 11
    PTSHARE_ALIGNMENT = 12


@dataclass(frozen=True)
class Layout:
    """A workload flattened into arrays, one row per (group, mapping).

    Rows are sorted by (group, address); ``piece_*`` list the touched ranges
    (absolute addresses) in the same order, so within a group every derived
    range is sorted and disjoint.
    """

    arch: Arch
    pti: bool
    counts: list[int]  # per group, Python ints
    group_names: list[str]
    # per row
    row_group: np.ndarray
    row_seg: np.ndarray
    row_addr: np.ndarray
    row_end: np.ndarray
    row_off: np.ndarray
    row_page: np.ndarray
    row_leaf: np.ndarray
    row_backing: np.ndarray
    row_prot: np.ndarray
    row_uffd_blocks_pmd_share: np.ndarray
    row_uffd_wp: np.ndarray
    row_soft_dirty: np.ndarray
    row_seg_size: np.ndarray
    row_auto: np.ndarray
    row_index: list[tuple[int, int]]  # (group index, mapping index in group)
    # per touched piece
    piece_row: np.ndarray
    piece_start: np.ndarray
    piece_end: np.ndarray

    @classmethod
    def from_workload(cls, w: Workload) -> Layout:
        arch = w.arch
        seg_names = list(w.segments)
        seg_id = {n: i for i, n in enumerate(seg_names)}
        rows: list[tuple[int, int, int]] = []  # (group, address, mapping index)
        for gi, g in enumerate(w.groups):
            for mi, m in enumerate(g.mappings):
                rows.append((gi, m.address, mi))
        rows.sort()
        n = len(rows)
        cols = {k: np.zeros(n, dtype=I64) for k in (
            "group", "seg", "addr", "end", "off", "page", "leaf", "backing", "prot",
            "uffd_pmd", "uffd_wp", "soft_dirty", "seg_size", "auto")}
        p_row: list[int] = []
        p_start: list[int] = []
        p_end: list[int] = []
        leaf_of: dict[int, int] = {}
        index: list[tuple[int, int]] = []
        for r, (gi, _addr, mi) in enumerate(rows):
            m = w.groups[gi].mappings[mi]
            seg = w.segments[m.segment]
            if seg.page_size not in leaf_of:
                leaf_of[seg.page_size] = arch.leaf_index(seg.page_size)
            index.append((gi, mi))
            cols["group"][r] = gi
            cols["seg"][r] = seg_id[m.segment]
            cols["addr"][r] = m.address
            cols["end"][r] = m.address + m.size
            cols["off"][r] = m.offset
            cols["page"][r] = seg.page_size
            cols["leaf"][r] = leaf_of[seg.page_size]
            cols["backing"][r] = _BACKING[seg.backing]
            cols["prot"][r] = _PROT[m.protection]
            # uffd_disable_huge_pmd_share(): VM_UFFD_WP | VM_UFFD_MINOR
            cols["uffd_pmd"][r] = m.userfaultfd in ("wp", "minor")
            cols["uffd_wp"][r] = m.userfaultfd == "wp"
            cols["soft_dirty"][r] = m.soft_dirty
            cols["seg_size"][r] = seg.size
            cols["auto"][r] = m.auto
            for s, e in m.touched:
                p_row.append(r)
                p_start.append(m.address + s)
                p_end.append(m.address + e)
        return cls(
            arch=arch,
            pti=w.host.pti,
            counts=[g.count for g in w.groups],
            group_names=[g.name for g in w.groups],
            row_group=cols["group"],
            row_seg=cols["seg"],
            row_addr=cols["addr"],
            row_end=cols["end"],
            row_off=cols["off"],
            row_page=cols["page"],
            row_leaf=cols["leaf"],
            row_backing=cols["backing"],
            row_prot=cols["prot"],
            row_uffd_blocks_pmd_share=cols["uffd_pmd"].astype(bool),
            row_uffd_wp=cols["uffd_wp"].astype(bool),
            row_soft_dirty=cols["soft_dirty"].astype(bool),
            row_seg_size=cols["seg_size"],
            row_auto=cols["auto"].astype(bool),
            row_index=index,
            piece_row=np.array(p_row, dtype=I64),
            piece_start=np.array(p_start, dtype=I64),
            piece_end=np.array(p_end, dtype=I64),
        )

    @property
    def n_rows(self) -> int:
        return int(self.row_addr.shape[0])

    def level_index(self, name: str) -> int | None:
        for i, lv in enumerate(self.arch.levels):
            if lv.name == name:
                return i
        return None


@dataclass(frozen=True)
class Zones:
    """Where each mapping (row) shares, under one scheme.

    ``bounds[:, k]`` .. ``bounds[:, k+1]`` is zone k of every row.  ``upper``
    says what zone 2 shares: ``"pmd"`` (a PMD table per window) or
    ``"mshare"`` (the region's host tree).  ``why_pmd`` / ``why_pte`` say, per
    row, why the PMD-level / PTE-level tables are not shared (Why.SHARED when
    they are, for at least part of the mapping).
    """

    scheme: str
    upper: str
    bounds: np.ndarray  # (rows, 6) int64
    why_pmd: np.ndarray
    why_pte: np.ndarray
    pte_key_class: np.ndarray  # ptshare: address - offset, or -1 for auto; else 0
    attached_pte: bool  # shared-PTE tables count in VmPTE (file-cached, not ptshare)


def _roundup(x: np.ndarray, a: int) -> np.ndarray:
    return -((-x) // a) * a


def zones(layout: Layout, scheme: str, options: ModelOptions) -> Zones:
    """Split every mapping into its five zones under ``scheme``."""
    arch = layout.arch
    a, e, off = layout.row_addr, layout.row_end, layout.row_off
    n = layout.n_rows
    pte_lv = layout.level_index("pte")
    pmd_lv = layout.level_index("pmd")
    # PMD_SIZE (what one PTE table covers) and PUD_SIZE (what one PMD table covers)
    pmd_size = arch.levels[0].table_span
    pud_size = arch.levels[pmd_lv].table_span if pmd_lv is not None else None
    why_pmd = np.full(n, Why.PRIVATE_SCHEME, dtype=np.int8)
    why_pte = np.full(n, Why.PRIVATE_SCHEME, dtype=np.int8)
    pte_class = np.zeros(n, dtype=I64)
    prot_none = layout.row_prot == _PROT_NONE
    d = a - off  # address of file offset 0 in this mapping

    def whole_windows(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo = _roundup(a, size)
        hi = (e // size) * size
        return lo, hi, lo < hi

    z = np.empty((n, 6), dtype=I64)
    z[:, 0] = a
    z[:, 5] = e
    z[:, 1:5] = e[:, None]  # default: all private
    upper = "pmd"
    attached_pte = False

    if scheme == "private":
        pass
    elif scheme == "mshare" and options.mshare_variant == "v3":
        upper = "mshare"
        ok = ~prot_none
        why_pmd = np.where(ok, Why.SHARED, Why.PROT_NONE).astype(np.int8)
        why_pte = why_pmd.copy()
        z[ok, 1] = a[ok]
        z[ok, 2] = a[ok]
    elif scheme == "mshare":  # ptshare: MAP_SHARED_PT, PTE tables only
        base = layout.row_leaf == 0
        aligned = (a % pmd_size == 0) & ((e - a) % pmd_size == 0)
        ok = base & aligned & ~prot_none
        why_pte = np.select(
            [prot_none, ~base, ~aligned], [Why.PROT_NONE, Why.NO_TABLES_AT_LEVEL, Why.PTSHARE_ALIGNMENT],
            Why.SHARED).astype(np.int8)
        why_pmd = np.full(n, Why.PRIVATE_SCHEME, dtype=np.int8)
        pte_class = np.where(layout.row_auto, -1, d)
        z[ok, 1] = a[ok]
        attached_pte = False
    elif scheme in ("hugetlb-pmd", "file-cached"):
        hugetlb = layout.row_backing == _HUGETLB
        share_size = arch.pmd_share_size
        # mm/hugetlb.c want_pmd_share(): VM_MAYSHARE, the PUD_SIZE window wholly
        # inside the vma (vma_shareable) and no uffd-wp/minor registration;
        # huge_pmd_share() only for PMD_SIZE pages (huge_pte_alloc).
        pmd_pages = layout.row_page == (share_size if share_size else -1)
        h_ok = hugetlb & pmd_pages & ~prot_none & ~layout.row_uffd_blocks_pmd_share
        if pud_size is not None:
            w_lo, w_hi, w_any = whole_windows(pud_size)
        else:
            w_lo, w_hi, w_any = a, a, np.zeros(n, dtype=bool)
        above_pmd = layout.row_leaf > (pmd_lv if pmd_lv is not None else -1)
        h_why = np.select(
            [~hugetlb, np.full(n, share_size is None), above_pmd, ~pmd_pages, prot_none,
             layout.row_uffd_blocks_pmd_share, ~w_any],
            [Why.NOT_HUGETLB, Why.ARCH_NO_PMD_SHARE, Why.NO_TABLES_AT_LEVEL, Why.NOT_PMD_PAGES, Why.PROT_NONE,
             Why.USERFAULTFD, Why.NO_WHOLE_WINDOW],
            Why.SHARED).astype(np.int8)
        pmd_on = h_ok & w_any
        why_pmd = h_why
        why_pte = np.where(hugetlb, Why.NO_TABLES_AT_LEVEL, Why.NOT_HUGETLB).astype(np.int8)
        pte_on = np.zeros(n, dtype=bool)
        p_lo = p_hi = a
        if scheme == "file-cached":
            attached_pte = True
            other = ~hugetlb
            eligible = (other & ~prot_none & ~layout.row_uffd_wp & ~layout.row_soft_dirty
                        & (layout.row_seg_size >= options.file_cached_threshold))
            base_why = np.select(
                [prot_none, layout.row_uffd_wp, layout.row_soft_dirty,
                 layout.row_seg_size < options.file_cached_threshold],
                [Why.PROT_NONE, Why.USERFAULTFD, Why.SOFT_DIRTY, Why.BELOW_THRESHOLD],
                Why.SHARED).astype(np.int8)
            has_pmd_tables = layout.row_leaf <= (pmd_lv if pmd_lv is not None else -1)
            congruent_pud = (d % pud_size == 0) if pud_size is not None else np.zeros(n, dtype=bool)
            f_pmd = eligible & has_pmd_tables & congruent_pud & w_any
            f_pmd_why = np.select(
                [base_why != Why.SHARED, ~has_pmd_tables, ~congruent_pud, ~w_any],
                [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
                Why.SHARED).astype(np.int8)
            b_lo, b_hi, b_any = whole_windows(pmd_size)
            base_pages = layout.row_leaf == 0
            congruent_pmd = d % pmd_size == 0
            pte_on = eligible & base_pages & congruent_pmd & b_any
            f_pte_why = np.select(
                [base_why != Why.SHARED, ~base_pages, ~congruent_pmd, ~b_any],
                [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
                Why.SHARED).astype(np.int8)
            why_pmd = np.where(other, f_pmd_why, h_why).astype(np.int8)
            why_pte = np.where(other, f_pte_why, why_pte).astype(np.int8)
            pmd_on = np.where(other, f_pmd, pmd_on)
            p_lo, p_hi = b_lo, b_hi
        # zone bounds: [a, z1) private, [z1, z2) shared-PTE, [z2, z3) shared-PMD,
        # [z3, z4) shared-PTE, [z4, e) private
        z1 = np.where(pte_on, p_lo, np.where(pmd_on, w_lo, e))
        z2 = np.where(pmd_on, w_lo, np.where(pte_on, p_hi, e))
        z3 = np.where(pmd_on, w_hi, z2)
        z4 = np.where(pte_on, p_hi, z3)
        z[:, 1], z[:, 2], z[:, 3], z[:, 4] = z1, z2, z3, z4
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return Zones(scheme=scheme, upper=upper, bounds=z, why_pmd=why_pmd, why_pte=why_pte,
                 pte_key_class=pte_class, attached_pte=attached_pte)


@dataclass(frozen=True)
class Parts:
    """Touched ranges cut by zones: sorted and disjoint within each group."""

    row: np.ndarray
    zone: np.ndarray
    start: np.ndarray
    end: np.ndarray


def cut(layout: Layout, z: Zones) -> Parts:
    """Intersect every touched piece with every zone of its mapping."""
    b = z.bounds[layout.piece_row]  # (pieces, 6)
    s = np.maximum(layout.piece_start[:, None], b[:, :5])
    e = np.minimum(layout.piece_end[:, None], b[:, 1:])
    keep = s < e  # piece-major, zone-minor: stays sorted by address
    zone = np.broadcast_to(np.arange(5, dtype=np.int8), s.shape)
    rows = np.broadcast_to(layout.piece_row[:, None], s.shape)
    return Parts(row=rows[keep], zone=zone[keep], start=s[keep], end=e[keep])


def distinct_blocks(owner: np.ndarray, s: np.ndarray, e: np.ndarray, span: int, n_owners: int) -> np.ndarray:
    """Per owner, the number of distinct ``span``-blocks the ranges touch.

    Ranges must be sorted and disjoint within each owner, owners contiguous:
    then block-range ends are non-decreasing, and each range adds the blocks
    past its predecessor's last one.
    """
    out = np.zeros(n_owners, dtype=I64)
    if s.size == 0:
        return out
    lo = s // span
    hi = -((-e) // span)
    prev = np.empty_like(hi)
    prev[0] = -1
    prev[1:] = hi[:-1]
    prev[1:][owner[1:] != owner[:-1]] = -1
    np.add.at(out, owner, np.maximum(hi - np.maximum(lo, prev), 0))
    return out


def dedupe_within(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trim block ranges (sorted within each owner) so an owner counts a block once."""
    if lo.size == 0:
        return lo, hi
    prev = np.empty_like(hi)
    prev[0] = -1
    prev[1:] = hi[:-1]
    prev[1:][owner[1:] != owner[:-1]] = -1
    lo = np.maximum(lo, prev)
    return lo, np.maximum(hi, lo)


def merge_within(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make block ranges disjoint within each owner (ranges may overlap and
    come in any order); returns (owner, lo, hi) sorted by owner, empty ranges
    dropped.  Owners must be dense ids >= 0, blocks >= 0."""
    if lo.size == 0:
        return owner, lo, hi
    order = np.lexsort((lo, owner))
    owner, lo, hi = owner[order], lo[order], hi[order]
    big = int(hi.max()) + 1
    if int(owner.max()) * big < (1 << 62):
        shifted = hi + owner * big
        run = np.maximum.accumulate(shifted) - owner * big
    else:  # pragma: no cover - block spaces beyond 2**62 / owners
        run = hi.copy()
        for i in range(1, run.size):
            if owner[i] == owner[i - 1]:
                run[i] = max(run[i], run[i - 1])
    prev = np.empty_like(run)
    prev[0] = -1
    prev[1:] = run[:-1]
    prev[1:][owner[1:] != owner[:-1]] = -1
    lo = np.maximum(lo, prev)
    keep = lo < hi
    return owner[keep], lo[keep], hi[keep]


def first_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each id in ``wanted``, the index of its first occurrence in ``ids``."""
    uniq, first = np.unique(ids, return_index=True)
    return first[np.searchsorted(uniq, wanted)]


def union_and_shared(key: np.ndarray, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray) -> tuple[int, int]:
    """Over block ranges of many owners: blocks covered at all, and blocks
    covered with total weight >= 2 (two or more sharers).

    ``key`` separates independent block spaces (one per sharing key).
    Weights are clipped to 2, which is all the threshold needs and keeps the
    running sum far from overflow.
    """
    keep = lo < hi
    if not keep.any():
        return 0, 0
    key, lo, hi, w = key[keep], lo[keep], hi[keep], np.minimum(weight[keep], 2)
    pos = np.concatenate([lo, hi])
    delta = np.concatenate([w, -w])
    k = np.concatenate([key, key])
    order = np.lexsort((pos, k))
    pos, delta, k = pos[order], delta[order], k[order]
    cover = np.cumsum(delta)
    length = pos[1:] - pos[:-1]
    same = k[1:] == k[:-1]
    c = cover[:-1]
    union = int(length[same & (c > 0)].sum())
    shared = int(length[same & (c >= 2)].sum())
    return union, shared


def key_ids(*cols: np.ndarray) -> np.ndarray:
    """Dense ids for rows of key columns."""
    if cols[0].size == 0:
        return np.zeros(0, dtype=I64)
    stacked = np.stack(cols, axis=1)
    _, inv = np.unique(stacked, axis=0, return_inverse=True)
    return inv.reshape(-1).astype(I64)


def compute(workload: Workload, scheme: str, options: ModelOptions | None = None,
            layout: Layout | None = None) -> SchemeResult:
    """Page tables of ``workload`` under ``scheme`` (see docs/semantics.md)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    options = options or workload.options
    layout = layout or Layout.from_workload(workload)
    z = zones(layout, scheme, options)
    return count(layout, z)


def count(layout: Layout, z: Zones) -> SchemeResult:
    """Count tables for a layout cut into zones."""
    arch = layout.arch
    levels = arch.levels
    n_groups = len(layout.counts)
    parts = cut(layout, z)
    p_group = layout.row_group[parts.row]
    p_leaf = layout.row_leaf[parts.row]
    kind = ZONE_KIND[parts.zone]
    pmd_i = layout.level_index("pmd")
    attach_i = layout.level_index("p4d") or len(levels) - 1
    # Lowest level whose table the process owns, per part.
    if z.upper == "mshare":
        upper_own = np.full(kind.shape, attach_i, dtype=I64)
    else:
        upper_own = np.full(kind.shape, (pmd_i if pmd_i is not None else 0) + 1, dtype=I64)
    own_min = np.where(kind == 0, p_leaf, np.where(kind == 1, np.maximum(p_leaf, 1), upper_own))

    own = np.zeros((n_groups, len(LEVEL_NAMES)), dtype=I64)
    attached = np.zeros((n_groups, len(LEVEL_NAMES)), dtype=I64)
    name_col = {name: i for i, name in enumerate(LEVEL_NAMES)}
    for li, lv in enumerate(levels[:-1]):
        m = own_min <= li
        own[:, name_col[lv.name]] = distinct_blocks(p_group[m], parts.start[m], parts.end[m], lv.table_span, n_groups)
    own[:, name_col["pgd"]] = 1

    shared_tables = zero_levels()
    physical = zero_levels()
    counts = layout.counts
    weight_of_row = np.minimum(np.array(counts, dtype=I64), 2)[layout.row_group] if layout.n_rows else np.zeros(0, I64)

    # --- shared PMD tables (hugetlb-pmd, file-cached): one per (key, file window)
    if z.upper == "pmd" and pmd_i is not None:
        m = kind == 2
        if m.any():
            rows = parts.row[m]
            span = levels[pmd_i].table_span
            attached[:, name_col["pmd"]] = distinct_blocks(p_group[m], parts.start[m], parts.end[m], span, n_groups)
            d = layout.row_addr[rows] - layout.row_off[rows]
            shift = -((-d) // span)  # ceil(d / span): VA window w is file window w - shift
            lo, hi = dedupe_within(rows, parts.start[m] // span, -((-parts.end[m]) // span))
            key = key_ids(layout.row_seg[rows], layout.row_prot[rows], d % span)
            u, s = union_and_shared(key, lo - shift, hi - shift, weight_of_row[rows])
            physical["pmd"] += u
            shared_tables["pmd"] += s

    # --- shared PTE tables (file-cached PTE cache, ptshare)
    pte_span = levels[0].table_span
    m_pte = kind == 1
    if z.upper == "pmd" and z.scheme == "file-cached":
        m_pte = m_pte | ((kind == 2) & (p_leaf == 0))
    if m_pte.any():
        rows = parts.row[m_pte]
        if z.attached_pte:
            via = kind[m_pte] == 1
            attached[:, name_col["pte"]] = distinct_blocks(
                p_group[m_pte][via], parts.start[m_pte][via], parts.end[m_pte][via], pte_span, n_groups)
        d = layout.row_addr[rows] - layout.row_off[rows]
        shift = -((-d) // pte_span)
        lo, hi = dedupe_within(rows, parts.start[m_pte] // pte_span, -((-parts.end[m_pte]) // pte_span))
        cls = z.pte_key_class[rows]
        key = key_ids(layout.row_seg[rows], layout.row_prot[rows], cls)
        u, s = union_and_shared(key, lo - shift, hi - shift, weight_of_row[rows])
        physical["pte"] += u
        shared_tables["pte"] += s

    # --- mshare v3: one host tree per (segment, protection), over file offsets
    regions = 0
    if z.upper == "mshare":
        m = (kind == 2) & (weight_of_row[parts.row] > 0)  # a group of 0 processes attaches nothing
        if m.any():
            rows = parts.row[m]
            d = layout.row_addr[rows] - layout.row_off[rows]
            fs, fe = parts.start[m] - d, parts.end[m] - d
            key = key_ids(layout.row_seg[rows], layout.row_prot[rows])
            grp = layout.row_group[rows]
            leaf = p_leaf[m]
            w_group = np.minimum(np.array(counts, dtype=I64), 2)
            for li, lv in enumerate(levels[:-1]):
                lm = leaf <= li
                lo, hi = fs[lm] // lv.table_span, -((-fe[lm]) // lv.table_span)
                if li < attach_i:
                    # a process attaches a region once, whatever its mappings in it
                    oid = key_ids(key[lm], grp[lm])
                    owner, lo, hi = merge_within(oid, lo, hi)
                    first = first_of(oid, owner)
                    u, s = union_and_shared(key[lm][first], lo, hi, w_group[grp[lm][first]])
                else:
                    # the host's own P4D tables: counted once, but no process walks them
                    u, _ = union_and_shared(key[lm], lo, hi, np.ones_like(lo))
                    s = 0
                physical[lv.name] += u
                shared_tables[lv.name] += s
            # the host mm's own PGD, one per region that anything touched
            regions = int(np.unique(key).size)
            physical["pgd"] += regions

    table_bytes = {lv.name: lv.table_bytes for lv in levels}
    table_bytes["pgd"] = arch.pgd_bytes(layout.pti)
    groups: list[GroupResult] = []
    for gi in range(n_groups):
        own_g = {name: int(own[gi, c]) for name, c in name_col.items()}
        att_g = {name: int(attached[gi, c]) for name, c in name_col.items()}
        per_process = sum(own_g[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
        vmpte = sum((own_g[n] + att_g[n]) * table_bytes[n] for n in VMPTE_LEVELS if n in table_bytes)
        groups.append(GroupResult(
            name=layout.group_names[gi], count=counts[gi], own_tables=own_g, attached_tables=att_g,
            per_process_bytes=per_process, vmpte_bytes=vmpte))
        for name in LEVEL_NAMES:
            physical[name] += counts[gi] * own_g[name]
    physical_bytes = sum(physical[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    shared_bytes = sum(shared_tables[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    return SchemeResult(scheme=z.scheme, tables=physical, shared_tables=shared_tables,
                        physical_bytes=physical_bytes, shared_bytes=shared_bytes,
                        groups=tuple(groups), mshare_regions=regions)


def resident_bytes(layout: Layout) -> dict[int, int]:
    """Per segment (index in ``workload.segments``), bytes of the segment that
    any process touches: the union of touched file ranges.

    Pieces are page-aligned, so the union in bytes is the pages' memory.
    """
    if layout.piece_row.size == 0:
        return {}
    rows = layout.piece_row
    d = layout.row_addr[rows] - layout.row_off[rows]
    seg = layout.row_seg[rows]
    out: dict[int, int] = {}
    for s in np.unique(seg).tolist():
        m = seg == s
        u, _ = union_and_shared(np.zeros(int(m.sum()), dtype=I64), layout.piece_start[m] - d[m],
                                layout.piece_end[m] - d[m], np.ones(int(m.sum()), dtype=I64))
        out[int(s)] = u
    return out
