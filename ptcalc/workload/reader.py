"""Reading a workload document's node graph into a :class:`Workload`: the
section layer of the loader.

:class:`WorkloadReader` walks the sections of :mod:`ptcalc.workload.keys`
(the workload, ``host``, ``segments``, ``processes`` and their mappings,
``instances``, ``options``), reads each value with
:class:`~ptcalc.workload.values.NodeReader`, checks the rules that tie keys
together, places ``address: auto`` (:mod:`ptcalc.workload.placement`) and
builds the workload's immutable objects once, at the end of the document.

Mappings are read into one table of distinct :class:`MappingSpec` per
reader (``specs``), each mapping a code into it, an address and whether it
is auto (:class:`Item`): a generated workload maps the same few hundred
mappings 100,000 times, and its groups keep them so
(:class:`~ptcalc.workload.types.Mappings`).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import chain, compress, repeat
from typing import Any, NamedTuple, cast

from ptcalc.errors import WorkloadError
from ptcalc.model.accounting import parse_kernel
from ptcalc.model.geometry import ARCHES, X86_64, Arch
from ptcalc.workload import fastyaml
from ptcalc.workload import instances as expand
from ptcalc.workload.address_space import default_private_mappings, highest_gap, place_private
from ptcalc.workload.keys import (GROUP, HOST, INSTANCE, MAPPING, MAX_SIZE, OPTIONS, PRIVATE_MAPPING, SEGMENT,
                                  WORKLOAD)
from ptcalc.workload.placement import overlapping_groups, place_addresses, place_side_by_side
from ptcalc.workload.types import (PRIVATE_KINDS, Host, Mappings, MappingSpec, ModelOptions, PrivateKind,
                                   PrivateMapping, ProcessGroup, Segment, SpecTable, Workload)
from ptcalc.workload.touched import normalise
from ptcalc.workload.values import (_NULLS, Entries, Node, NodeReader, exact, join, one_of, plain_range, show,
                                    suggest)
from ptcalc.workload.yamlnodes import PLAIN


COLUMN_ROWS = 1000
"""Rows of a document's mapping tables from which they are read column by
column (:mod:`ptcalc.workload.columns`, with numpy); fewer are read one by one."""


class Budget:
    """Segments, process groups and mappings of the file so far (every
    document, every instance expanded): instances may not take the file past
    :data:`expand.LIMITS`."""

    def __init__(self) -> None:
        self.counts = {what: 0 for what in expand.LIMITS}

    def add(self, segments: int, groups: int, mappings: int) -> None:
        for what, n in zip(expand.LIMITS, (segments, groups, mappings)):
            self.counts[what] += n

    def over(self, segments: int, groups: int, mappings: int) -> tuple[str, int] | None:
        """What adding these would take past its limit (what, new total), if anything."""
        for what, n in zip(expand.LIMITS, (segments, groups, mappings)):
            if self.counts[what] + n > expand.LIMITS[what]:
                return what, self.counts[what] + n
        return None


class Item(NamedTuple):
    """One mapping as read: its spec's code in the reader's ``specs``, its
    address (0 while auto and not yet placed) and whether it is auto."""

    code: int
    address: int
    auto: bool


class _TableItems:
    """A table's item nodes by index, built only when an error needs one."""

    def __init__(self, table: fastyaml.Table) -> None:
        self.table = table

    def __getitem__(self, i: int) -> Node:
        return self.table.item(i)

    def __len__(self) -> int:
        return len(self.table)


# the keys read for every distinct mapping, looked up once
_SEGMENT, _OFFSET, _SIZE, _PROTECTION, _UFFD, _SOFT_DIRTY = (
    MAPPING[k] for k in ("segment", "offset", "size", "protection", "userfaultfd", "soft_dirty"))

NodesByIndex = list[Node] | _TableItems
"""Nodes by index: a list of them, or a table's items built when asked for."""

@dataclass(eq=False)
class GroupRead:
    """A process group as read, its mappings as columns of :class:`Item`
    fields (placed once :meth:`WorkloadReader.place` has run).  A record the
    reader makes and consumes (not frozen: a frozen dataclass costs 2 us to
    make, four times what this one does, times 10,000 groups)."""

    name: str
    count: int
    private_memory: int
    path: str
    """Key path: ``processes[3]``."""
    node: Node | None
    """The ``mappings`` node (placement errors are located there), None without one."""
    codes: tuple[int, ...]
    addresses: tuple[int, ...]
    auto: tuple[bool, ...]
    address_nodes: NodesByIndex
    """Per mapping, where an error about its address is located (a list, or
    a table's items, built when asked for)."""
    private: tuple[PrivateMapping, ...] = ()
    """The private mappings (auto ones at address 0 until placed)."""
    private_nodes: NodesByIndex | tuple[Node, ...] = ()
    """Per private mapping, where an error about its address is located."""
    default_layout: bool = False
    """``private`` is the kernel's default layout (no ``private_mappings`` key):
    its mappings move out of the way of explicit shared mappings."""

    def placed(self, addresses: tuple[int, ...], private: tuple[PrivateMapping, ...] | None = None) -> GroupRead:
        """The group with its auto mappings at ``addresses`` (explicit ones unchanged)."""
        return GroupRead(self.name, self.count, self.private_memory, self.path, self.node, self.codes, addresses,
                         self.auto, self.address_nodes, self.private if private is None else private,
                         self.private_nodes, self.default_layout)

    def group(self, specs: Sequence[MappingSpec], name: str | None = None, prefix: str = "") -> ProcessGroup:
        """The ProcessGroup, its mappings codes into ``specs``; ``name`` and the
        key-path ``prefix`` for a copy of an instance."""
        path = prefix + self.path
        mappings = Mappings(specs, self.codes, self.addresses, self.auto, f"{path}.mappings")
        private = self.private
        if prefix and not self.default_layout:
            private = tuple(replace(m, origin=prefix + m.origin) for m in private)
        return ProcessGroup(self.name if name is None else name, self.count, mappings, self.private_memory, path,
                            private, self.default_layout)


_UNSET: Any = object()


_SIZE_TOKEN = re.compile(r"([0-9]{1,12})(KiB|MiB|GiB|TiB)")
_SIZE_UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_ADDRESS_TOKEN = re.compile(r"0x[0-9a-f]{1,16}")
_ROW_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.+()/-]*(?: [A-Za-z0-9_.+()/-]+)*")
_PRIVATE_ROW_KEYS = frozenset({"kind", "name", "address", "size", "page_size", "touch"})

PrivateRow = tuple[PrivateKind, str, int, int, int, tuple[tuple[int, int], ...]]
TouchPrefix = Callable[[str, int, int], tuple[tuple[int, int], ...]]


def _private_row(keys: tuple[str, ...], values: tuple[str, ...], base: int, pmd: int, limit: int,
                 touch: TouchPrefix) -> PrivateRow | None:
    """(kind, name, address, size, page size, touched ranges) of a table row
    of a private mapping in the form ``ptcalc scan`` writes (``{kind: file,
    name: libc.so.6, address: 0x7f.., size: 1876KiB}``, the name possibly
    double-quoted, ``touch`` a fraction, percentage, size or list of ranges) when it
    is valid (``base``, ``pmd``: the page sizes allowed, ``limit``: the top
    of user space; ``touch``: the reader's memoised touched prefix, raising
    WorkloadError for a bad one); None for any other row, which the
    node-by-node reading then takes (and locates what is wrong)."""
    row = dict(zip(keys, values))
    if len(row) != len(keys) or not row.keys() <= _PRIVATE_ROW_KEYS or "size" not in row or "address" not in row:
        return None
    kind = row.get("kind", "anon")
    name = row.get("name", kind)
    if name[:1] == '"' and len(name) > 2 and name[1:-1].strip():
        # a quoted name of fastyaml's subset (printable ASCII, no escapes): the text between the quotes
        name = name[1:-1]
    elif not _ROW_NAME.fullmatch(name) or name.lower() in _NOT_NAMES:
        return None
    if kind not in PRIVATE_KINDS or not _ADDRESS_TOKEN.fullmatch(row["address"]):
        return None
    sizes = []
    for text in (row["size"], row.get("page_size")):
        if text is None:
            sizes.append(base)
            continue
        m = _SIZE_TOKEN.fullmatch(text)
        if m is None:
            return None
        sizes.append(int(m.group(1)) * _SIZE_UNITS[m.group(2)])
    size, page = sizes
    address = int(row["address"], 16)
    if not (page == base or (page == pmd and kind != "stack")) or not 0 < size <= MAX_SIZE or size % page \
            or address % page or address + size > limit:
        return None
    touched: tuple[tuple[int, int], ...] = ((0, size),)
    text = row.get("touch")
    if text is not None:
        if not _TOUCH_TOKEN.fullmatch(text):
            return None
        try:
            touched = touch(text, size, page)
        except WorkloadError:
            return None
    return cast(PrivateKind, kind), name, address, size, page, touched


_WHOLE = frozenset({"1", "1.0", "100%"})
"""Touch texts of the whole mapping."""
_TOUCH_TOKEN = re.compile(r"[0-9][0-9.]*%?|[0-9]{1,12}(?:KiB|MiB|GiB|TiB)|\[[^\[\]]*\]")
"""A touch of a private row read without nodes: a fraction, a percentage, a
size, or a list of ranges (a flow sequence of fastyaml's subset)."""


_NOT_NAMES = _NULLS | {"y", "n", "yes", "no", "on", "off", "true", "false"}
"""Plain words YAML reads as something else than a name (a row with one goes node by node)."""


class RowItems:
    """The items of a document's table rows (:class:`fastyaml.Table`) read
    so far, by row number, as three columns (an int64 each, not a tuple and
    two ints per row: 2.4 MiB instead of 17 for 100,000 rows); a row not
    read yet has code -1.  :func:`ptcalc.workload.columns.read_rows` fills
    them many at a time."""

    __slots__ = ("code", "address", "auto")

    def __init__(self) -> None:
        self.code = array("q")
        self.address = array("q")
        self.auto = array("b")

    def reserve(self, rows: int) -> None:
        """Room for rows ``0 .. rows - 1`` (those not there yet: not read)."""
        more = rows - len(self.code)
        if more > 0:
            self.code.frombytes(b"\xff" * (8 * more))  # -1
            self.address.frombytes(bytes(8 * more))
            self.auto.frombytes(bytes(more))

    def read(self, row: int) -> bool:
        return row < len(self.code) and self.code[row] >= 0

    def put(self, row: int, item: Item) -> None:
        self.reserve(row + 1)
        self.code[row], self.address[row], self.auto[row] = item


class WorkloadReader(NodeReader):
    """Walks one document's node graph (its alias-expanded size has been
    checked against MAX_NODES by ``check_expansion``)."""

    def __init__(self, source: str, fast: bool = False, budget: Budget | None = None) -> None:
        super().__init__(source)
        self.fast = fast  # reading a fastyaml document (see processes())
        self.private_rows: dict[int, PrivateRow | None] = {}  # a document's distinct private rows, read
        self.budget = budget if budget is not None else Budget()  # the file's, for instances
        # the distinct mappings read, and each one's code (its index)
        self.specs = SpecTable()
        self.code_of: dict[MappingSpec, int] = {}
        self.column_memo: dict[str, dict[str, int]] = {}  # per key, its texts read (ptcalc.workload.columns)
        # table rows read so far (see table()), by row number; the specs by
        # (keys, values but the address's); addresses by (text, page, size)
        self.row_items = RowItems()
        self.spec_memo: dict[tuple[tuple[str, ...], tuple[str, ...]], MappingSpec] = {}
        self.address_memo: dict[tuple[str, int, int], int | None] = {}

    # -- the document --------------------------------------------------------------

    def empty(self, root: Node | None, index: int, count: int) -> WorkloadError:
        """The error for an empty document ``index`` of ``count``."""
        if count > 1:
            return self.error(
                root, "", f"document {index + 1} of {count} is empty; each YAML document (between --- "
                "lines) is a workload with host, segments and processes"
            )
        return self.error(root, "", "the file is empty; a workload needs host, segments and processes")

    def workload(self, root: Node | None, index: int = 0, count: int = 1) -> Workload:
        """Document ``index`` of the ``count`` in the file."""
        if root is None or (
            root.id == "scalar" and root.tag == PLAIN and root.value in _NULLS
        ):
            raise self.empty(root, index, count)
        if root.id != "mapping":
            raise self.error(
                root,
                "",
                f"a workload is a mapping with keys {', '.join(WORKLOAD.names)}; "
                f"got {self.describe(root)}",
            )
        top = self.section(root, "", WORKLOAD)
        name = self.get(top, "", WORKLOAD["name"])
        host = self.host(top["host"][1]) if "host" in top else Host(memory=None, arch=X86_64)
        segments: dict[str, Segment] = {}
        groups: tuple[ProcessGroup, ...] = ()
        # WORKLOAD_ALTERNATIVES: without instances segments and processes are
        # required; with them, optional together
        if "instances" not in top or "segments" in top or "processes" in top:
            if "segments" not in top:
                raise self.missing(root, "", "segments")
            segments = self.segments(top["segments"][1], host.arch)
            if "processes" not in top:
                why = " (top-level segments need top-level processes; or move them into an instance)"
                raise self.missing(root, "", "processes", why if "instances" in top else "")
            reads = self.processes(top["processes"][1], segments, host.arch)
            groups = tuple(r.group(self.specs) for r in reads)
        self.budget.add(len(segments), len(groups), sum(len(g.mappings) for g in groups))
        if "instances" in top:
            segments, groups = self.instances(top["instances"][1], segments, groups, host.arch)
        options = self.options(top["options"][1]) if "options" in top else ModelOptions()
        return Workload(
            host=host,
            segments=segments,
            groups=groups,
            name=name,
            source=self.source if count == 1 else f"{self.source}#{index + 1}",
            options=options,
        )

    # -- host and options ----------------------------------------------------------

    def host(self, node: Node) -> Host:
        e = self.section(node, "host", HOST)
        arch = X86_64
        if "arch" in e:
            anode = e["arch"][1]
            if self.scalar(anode, "host.arch", "an architecture").strip() in ("aarch64", "arm64"):
                raise self.error(
                    anode,
                    "host.arch",
                    "arm64 has a profile per page size (granule): arm64-4k, arm64-16k or arm64-64k "
                    "(getconf PAGESIZE on the host prints 4096, 16384 or 65536)",
                )
            arch = ARCHES[self.value(anode, "host.arch", HOST["arch"])]
        memory = self.get(e, "host", HOST["memory"])
        pti = self.get(e, "host", HOST["pti"])
        reserved = self.get(e, "host", HOST["reserved"])
        if memory is not None and reserved >= memory:
            raise self.error(
                e["reserved"][1],
                "host.reserved",
                f"reserved memory ({exact(reserved)}) must be less than "
                f"host memory ({exact(memory)})",
            )
        hugepages = self.hugepages(e["hugepages"][1], arch) if "hugepages" in e else None
        return Host(
            memory=memory,
            arch=arch,
            pti=pti,
            reserved=reserved,
            hugepages=hugepages,
            process_overhead=self.get(e, "host", HOST["process_overhead"]),
            headroom_percent=self.get(e, "host", HOST["headroom"]),
            kernel=self.kernel(e["kernel"][1]) if "kernel" in e else None,
        )

    def kernel(self, node: Node) -> tuple[int, int]:
        """``host.kernel``: a release such as 6.18 or 6.1.0-27-amd64, as (major, minor)."""
        text = self.scalar(node, "host.kernel", "a kernel release such as 6.18").strip()
        try:
            return parse_kernel(text)
        except ValueError:
            raise self.error(node, "host.kernel", f"{show(text)} is not a kernel release (uname -r prints one, "
                                                  "such as 6.18.44 or 6.1.0-27-amd64)") from None

    def hugepages(self, node: Node, arch: Arch) -> dict[int, int]:
        key = HOST["hugepages"]
        assert key.maximum is not None
        e = self.entries(node, "host.hugepages", None, key.what)
        pools: dict[int, int] = {}
        seen: dict[int, str] = {}
        sizes = ", ".join(exact(s) for s in arch.hugetlb_sizes)
        for name, (knode, vnode) in e.items():
            path = join("host.hugepages", name)
            page = self.parse_size(knode, path, name)
            if page not in arch.hugetlb_sizes:
                raise self.error(
                    knode,
                    path,
                    f"{exact(page)} is not a hugetlb page size on {arch.name} ({sizes})",
                )
            if page in seen:
                raise self.error(
                    knode, path, f"the {exact(page)} pool is already given as {show(seen[page])}"
                )
            seen[page] = name
            pools[page] = self.integer(vnode, path, minimum=0, limit=key.maximum, what="page count")
        return pools

    def options(self, node: Node) -> ModelOptions:
        e = self.section(node, "options", OPTIONS)
        return ModelOptions(file_cached_threshold=self.get(e, "options", OPTIONS["file_cached_threshold"]),
                            mshare_variant=self.get(e, "options", OPTIONS["mshare_variant"]))

    # -- segments ------------------------------------------------------------------

    def segments(self, node: Node, arch: Arch) -> dict[str, Segment]:
        e = self.entries(node, "segments", None, WORKLOAD["segments"].what)
        # none is fine: processes may have their own mappings only (a scanned
        # host's processes without shared memory); a mapping of a segment that
        # is not there is located at the mapping
        out: dict[str, Segment] = {}
        for name, (knode, vnode) in e.items():
            path = join("segments", name)
            if not name.strip():
                raise self.error(knode, path, "a segment name cannot be empty")
            self.check_name(knode, path, name)
            out[name] = self.segment(name, vnode, path, arch)
        return out

    def segment(self, name: str, node: Node, path: str, arch: Arch) -> Segment:
        e = self.section(node, path, SEGMENT)
        backing = self.get(e, path, SEGMENT["backing"])
        base = arch.base_page
        pmd = arch.level("pmd")
        thp = pmd.entry_span if pmd is not None else None
        if "page_size" in e:
            pnode = e["page_size"][1]
            ppath = f"{path}.page_size"
            page = self.parse_size(
                pnode, ppath, self.scalar(pnode, ppath, "a page size such as 4KiB or 2MiB")
            )
            supported = arch.page_sizes()
            if page not in supported:
                raise self.error(
                    pnode,
                    ppath,
                    f"{exact(page)} is not a page size on {arch.name} "
                    f"({one_of(exact(s) for s in supported)})",
                )
            if backing == "hugetlb" and page not in arch.hugetlb_sizes:
                raise self.error(
                    pnode,
                    ppath,
                    f"a hugetlb segment needs a huge page size "
                    f"({one_of(exact(s) for s in arch.hugetlb_sizes)}), not {exact(page)}",
                )
            if backing != "hugetlb" and page not in (base, thp):
                allowed = one_of(exact(s) for s in (base, thp) if s is not None)
                raise self.error(
                    pnode,
                    ppath,
                    f"{backing} pages are {allowed} (transparent huge pages); "
                    f"{exact(page)} pages need backing: hugetlb",
                )
        else:
            # SHM_HUGETLB / MAP_HUGETLB without a size flag use the default
            # hstate (HPAGE_SIZE = PMD_SIZE, 2 MiB on x86-64, 32 MiB on arm64
            # 16K: mm/hugetlb.c default_hstate).
            page = arch.hpage_size if backing == "hugetlb" else base
        key = SEGMENT["size"]
        snode = self.require(e, node, path, key)
        spath = f"{path}.size"
        size = self.value(snode, spath, key)
        if size % page:
            raise self.error(
                snode,
                spath,
                f"size {exact(size)} is not a multiple of the segment's page size "
                f"({exact(page)})",
            )
        return Segment(name=name, size=size, backing=backing, page_size=page)

    # -- process groups --------------------------------------------------------------

    def processes(self, node: Node, segments: dict[str, Segment], arch: Arch) -> list[GroupRead]:
        """The groups of a ``processes`` list, placed."""
        items = self.sequence(node, "processes", WORKLOAD["processes"].what)
        if not items:
            raise self.error(node, "processes", "at least one process group is needed")
        if not self.fast:
            # group by group: the first problem in the file is the one reported
            return [self.place(self.group(i, g, segments, arch), arch) for i, g in enumerate(items)]
        # A document fastyaml read: any problem sends it back through libyaml
        # (and so group by group); here the mappings of every group's table
        # are read at once, column by column, and the auto mappings of every
        # group placed at once, on arrays.
        self.read_tables([v for g in items if g.id == "mapping" for k, v in g.value
                          if k.value == "mappings" and isinstance(v, fastyaml.Table)], segments, arch)
        return self.place_all([self.group(i, g, segments, arch) for i, g in enumerate(items)], arch)

    def group(self, index: int, node: Node, segments: dict[str, Segment], arch: Arch) -> GroupRead:
        """A process group, its mappings read but not yet placed."""
        path = f"processes[{index}]"
        e = self.section(node, path, GROUP)
        name = self.get(e, path, GROUP["name"]) if "name" in e else f"group {index + 1}"
        key = GROUP["count"]
        count = self.value(self.require(e, node, path, key), f"{path}.count", key)
        private_memory = self.get(e, path, GROUP["private_memory"])
        mnode: Node | None = None
        items: list[Item] = []
        codes: tuple[int, ...] = ()
        addresses: tuple[int, ...] = ()
        auto: tuple[bool, ...] = ()
        address_nodes: NodesByIndex = []
        if "mappings" in e:
            mnode = e["mappings"][1]
            if isinstance(mnode, fastyaml.Table):
                codes, addresses, auto = self.table(path, mnode, segments, arch)
                address_nodes = _TableItems(mnode)
            else:
                nodes = self.sequence(mnode, f"{path}.mappings", GROUP["mappings"].what)
                anodes: list[Node] = []
                for j, item in enumerate(nodes):
                    mpath = f"{path}.mappings[{j}]"
                    me = self.section(item, mpath, MAPPING)
                    spec = self.mapping_spec(mpath, item, me, segments, arch)
                    pair = me.get("address")
                    anode = item if pair is None else pair[1]
                    address = None
                    if pair is not None:
                        page = segments[spec.segment].page_size
                        address = self.address(anode, f"{mpath}.address", page, spec.size, arch)
                    items.append(Item(self.code(spec), address or 0, address is None))
                    anodes.append(anode)
                address_nodes = anodes
                if items:
                    codes, addresses, auto = (tuple(c) for c in zip(*items))
        if "private_mappings" in e:
            private, private_nodes = self.private_mappings(f"{path}.private_mappings", e["private_mappings"][1],
                                                           arch)
            if private_memory is None:
                # what the listed anonymous memory and stacks touch
                private_memory = sum(m.touched_bytes for m in private if m.kind != "file")
            return GroupRead(name, count, private_memory, path, mnode, codes, addresses, auto, address_nodes,
                             private, private_nodes)
        private_memory = private_memory or 0
        return GroupRead(name, count, private_memory, path, mnode, codes, addresses, auto, address_nodes,
                         _default_layout(arch, private_memory), (), True)

    def private_table(self, path: str, table: fastyaml.Table, arch: Arch
                      ) -> tuple[tuple[PrivateMapping, ...], _TableItems] | None:
        """A table of private mappings as ``ptcalc scan`` writes them (kind, name,
        a hex address, sizes in binary units, a plain touch or none), each
        distinct row read once, without nodes; None when some row is anything
        else (it is then read node by node, with its located message if it is
        wrong)."""
        memo = self.private_rows
        out: list[PrivateMapping] = []
        base, pmd, limit = arch.base_page, arch.pmd_size, arch.user_limit
        touch_memo = self.touch_memo

        def touch(text: str, size: int, page: int) -> tuple[tuple[int, int], ...]:
            if text in _WHOLE:  # (size is a multiple of page: touch_prefix's answer)
                return ((0, size),)
            if text[:1] == "[":  # a list of ranges, read as touch() reads its node
                inner = text[1:-1].strip(" ")  # (fastyaml.value_node's items)
                ranges = list(map(plain_range, map(str.strip, inner.split(","), repeat(" ")))) if inner else []
                if ranges and None not in ranges:  # the form scan writes: read without nodes
                    plain = cast("list[tuple[int, int]]", ranges)
                    if all(start < end <= size for start, end in plain):  # (else checked_range says why)
                        return normalise(plain, page)
                return self.touch_ranges(fastyaml.value_node(text, table.start_mark), "", size, page)
            key = (text, size, page)  # (as touch() memoises it)
            touched = touch_memo.get(key)
            if touched is None:
                touched = touch_memo[key] = self.touch_prefix(None, "", text, size, page)
            return touched

        for j, row in enumerate(table.rows):
            got = memo.get(row)
            if got is None:
                got = memo[row] = _private_row(*fastyaml.unpack(table.distinct[row]), base, pmd, limit, touch)
            if not got:
                return None
            kind, name, address, size, page, touched = got
            out.append(PrivateMapping(kind, address, size, page, touched, False, name, f"{path}[{j}]"))
        return tuple(out), _TableItems(table)

    def private_mappings(self, path: str, node: Node, arch: Arch
                         ) -> tuple[tuple[PrivateMapping, ...], NodesByIndex]:
        """A group's ``private_mappings``, auto ones at address 0 (placed by
        :meth:`place`), and per mapping the node an address error is located at."""
        if isinstance(node, fastyaml.Table):
            fast = self.private_table(path, node, arch)
            if fast is not None:
                return fast
            items: Sequence[Node] = [node.item(j) for j in range(len(node))]
        else:
            items = self.sequence(node, path, GROUP["private_mappings"].what)
        out: list[PrivateMapping] = []
        nodes: list[Node] = []
        for j, item in enumerate(items):
            mpath = f"{path}[{j}]"
            e = self.section(item, mpath, PRIVATE_MAPPING)
            kind = self.get(e, mpath, PRIVATE_MAPPING["kind"])
            name = self.get(e, mpath, PRIVATE_MAPPING["name"]) or kind
            page = arch.base_page
            if "page_size" in e:
                pnode = e["page_size"][1]
                ppath = f"{mpath}.page_size"
                page = self.parse_size(pnode, ppath,
                                       self.scalar(pnode, ppath, "a page size such as 4KiB or 2MiB"))
                allowed = (arch.base_page,) if kind == "stack" else (arch.base_page, arch.pmd_size)
                if page not in allowed:
                    thp = (" (PMD_SIZE: an anonymous transparent huge page or a PMD-mapped file folio)"
                           if kind != "stack" else "")
                    raise self.error(pnode, ppath, f"a private {kind} mapping has {one_of(exact(s) for s in allowed)} "
                                                   f"pages{thp}, not {exact(page)}")
            key = PRIVATE_MAPPING["size"]
            znode = self.require(e, item, mpath, key)
            size = self.value(znode, f"{mpath}.size", key)
            if size % page:
                raise self.error(znode, f"{mpath}.size",
                                 f"size {exact(size)} is not a multiple of the page size ({exact(page)})")
            pair = e.get("address")
            anode = item if pair is None else pair[1]
            address = None if pair is None else self.address(anode, f"{mpath}.address", page, size, arch)
            pair = e.get("touch")
            touched = ((0, size),) if pair is None else self.touch(pair[1], f"{mpath}.touch", size, page)
            out.append(PrivateMapping(kind, address or 0, size, page, touched, address is None, name, mpath))
            nodes.append(anode)
        return tuple(out), nodes

    def code(self, spec: MappingSpec) -> int:
        """The code of ``spec`` in :attr:`specs` (added if new)."""
        code = self.code_of.get(spec)
        if code is None:
            code = self.code_of[spec] = len(self.specs)
            self.specs.append(spec)
        return code

    # -- placing auto mappings ----------------------------------------------------------

    def place(self, read: GroupRead, arch: Arch, checked: bool = False) -> GroupRead:
        """The group with its explicit addresses checked (unless ``checked``:
        already done) and its auto mappings placed: the default layout clear
        of explicit shared mappings, then auto shared mappings (windows of
        their own), then auto private mappings (top-down, as the kernel)."""
        specs = self.specs
        size = tuple(map(specs.size.__getitem__, read.codes))
        private = self.default_placed(read, size, arch)
        if not checked:
            self.check_overlaps(read, size, private)
        offset = map(specs.offset.__getitem__, read.codes)
        fixed = [(m.address, m.size, 0, False) for m in private if not m.auto]
        try:
            placed = place_addresses(list(zip(read.addresses, size, offset, read.auto)) + fixed, arch)
        except ValueError:
            raise self.error(
                read.node,
                f"{read.path}.mappings",
                f"no room below {arch.user_limit:#x} to place every auto mapping "
                f"(each takes {exact(arch.auto_window)} windows of its own, "
                f"from {exact(arch.auto_base)} up); "
                "give some mappings explicit addresses",
            ) from None
        placed = placed[:len(size)]
        return read.placed(tuple(placed), self.private_placed(read, private, placed, size, arch))

    def default_placed(self, read: GroupRead, size: Sequence[int] | None, arch: Arch) -> tuple[PrivateMapping, ...]:
        """The group's private mappings; the default layout's moved, each
        top-down below where it would be, where an explicit shared mapping
        is in the way (a process whose segment was attached there first).
        ``size``: the shared mappings' sizes (None: looked up when needed)."""
        private = read.private
        if not read.default_layout or all(read.auto):
            return private
        if size is None:
            size = tuple(map(self.specs.size.__getitem__, read.codes))
        taken = [(a, a + z) for a, z, au in zip(read.addresses, size, read.auto) if not au]
        out = []
        for m in private:
            if any(s < m.end and m.address < e for s, e in taken):
                address = highest_gap(sorted(taken), m.size, m.page_size, m.end, arch.base_page)
                if address is None:
                    raise self.error(read.node, f"{read.path}.mappings",
                                     f"no room for the default layout's {m.name} ({exact(m.size)}) beside the "
                                     "explicit mappings; list private_mappings")
                m = replace(m, address=address)
            taken.append((m.address, m.end))
            out.append(m)
        return tuple(out)

    def private_placed(self, read: GroupRead, private: tuple[PrivateMapping, ...], placed: Sequence[int],
                       size: Sequence[int] | None, arch: Arch) -> tuple[PrivateMapping, ...]:
        """``private`` with its auto mappings placed as the kernel's top-down
        mmap would, clear of everything else (``placed``: the shared mappings,
        ``size`` their sizes, None: looked up when needed)."""
        if not any(m.auto for m in private):
            return private
        if size is None:
            size = tuple(map(self.specs.size.__getitem__, read.codes))
        taken = [(a, a + z) for a, z in zip(placed, size)] + [(m.address, m.end) for m in private if not m.auto]
        wanted = [(m.kind, m.size, m.page_size) for m in private if m.auto]
        try:
            addresses = iter(place_private(arch, taken, wanted))
        except ValueError as e:
            raise self.error(read.node if read.node is not None else None, f"{read.path}.private_mappings",
                             f"cannot place every auto private mapping: {e}") from None
        return tuple(replace(m, address=next(addresses)) if m.auto else m for m in private)

    def place_all(self, reads: list[GroupRead], arch: Arch) -> list[GroupRead]:
        """Every group of a fastyaml document checked for overlapping explicit
        mappings and placed, on arrays: side by side where that is what
        first-fit does (placement.place_side_by_side), else one by one.  (Any
        problem sends the document back through libyaml, group by group:
        which group's problem is raised here does not matter.)  Explicit
        private mappings (and the default layout's) take part as explicit
        mappings."""
        from ptcalc.model import xp as _xp

        specs = self.specs
        spec_size = specs.size
        spec_offset = specs.offset
        privates = [self.default_placed(r, None, arch) for r in reads]
        fixed = [[m for m in p if not m.auto] for p in privates]
        shared_sizes = [len(r.codes) for r in reads]
        sizes = [k + len(f) for k, f in zip(shared_sizes, fixed)]
        n = sum(sizes)
        xp = _xp.for_size(n)
        i64 = xp.int64

        group = xp.repeat(xp.arange(len(reads)), xp.asarray(sizes, i64))
        address = xp.fromiter(chain.from_iterable(chain(r.addresses, (m.address for m in f))
                                                  for r, f in zip(reads, fixed)), i64, n)
        auto = xp.fromiter(chain.from_iterable(chain(r.auto, (False for _ in f)) for r, f in zip(reads, fixed)),
                           xp.bool_, n)
        # a shared mapping's size and offset are its spec's (looked up by code
        # on arrays, not a call per mapping), a listed private mapping's its own
        codes = xp.fromiter(chain.from_iterable(chain(r.codes, repeat(-1, len(f))) for r, f in zip(reads, fixed)),
                            i64, n)
        own = codes < 0
        code = xp.maximum(codes, 0)
        del codes
        own_size = xp.fromiter(chain.from_iterable(chain(repeat(0, len(r.codes)), (m.size for m in f))
                                                   for r, f in zip(reads, fixed)), i64, n)
        known = len(spec_size) > 0  # (else every row is a private mapping's: code 0 is no spec's)
        size = xp.where(own, own_size, xp.asarray(spec_size, i64)[code] if known else 0)
        offset = xp.where(own, 0, xp.asarray(spec_offset, i64)[code] if known else 0)
        del own, code, own_size
        overlapping = overlapping_groups(xp, group, address, size, auto)
        if overlapping:  # raise that group's error, as group by group
            first = reads[overlapping[0]]
            self.check_overlaps(first, tuple(map(spec_size.__getitem__, first.codes)), privates[overlapping[0]])
        placed, ok = place_side_by_side(group, address, size, offset, auto, len(reads), arch)
        flat = placed.tolist()
        out = []
        row = 0
        for read, private, k, total, simple in zip(reads, privates, shared_sizes, sizes, ok):
            if simple:
                shared = tuple(flat[row:row + k])
                out.append(read.placed(shared, self.private_placed(read, private, shared, None, arch)))
            else:
                out.append(self.place(read, arch, checked=True))
            row += total
        return out

    def check_overlaps(self, read: GroupRead, size: tuple[int, ...], private: tuple[PrivateMapping, ...]) -> None:
        """Explicit addresses of one process must not overlap (auto ones are
        placed clear of everything): its shared mappings, and its listed
        private mappings (the default layout moves out of the way)."""
        path, address, auto, nodes = read.path, read.addresses, read.auto, read.address_nodes
        explicit = [(a, a + z, j) for j, (a, z, au) in enumerate(zip(address, size, auto)) if not au]
        n = len(size)
        if not read.default_layout:
            explicit += [(m.address, m.end, n + j) for j, m in enumerate(private) if not m.auto]
        explicit.sort()

        def where(j: int) -> tuple[str, int, int]:
            if j < n:
                return f"mappings[{j}]", address[j], address[j] + size[j]
            m = private[j - n]
            return f"private_mappings[{j - n}]", m.address, m.end

        for (_, prev_end, i), (start, _, j) in zip(explicit, explicit[1:], strict=False):
            if start < prev_end:
                first, later = min(i, j), max(i, j)
                name_a, a, a_end = where(first)
                name_b, b, b_end = where(later)
                node = nodes[later] if later < n else read.private_nodes[later - n]
                raise self.error(
                    node,
                    f"{path}.{name_b}.address",
                    f"[{b:#x}, {b_end:#x}) overlaps {name_a} at [{a:#x}, {a_end:#x}) in the same process",
                )
        # A sorted sweep comparing neighbours finds an overlap whenever one
        # exists: if any two intervals overlap, some pair of neighbours does.

    # -- mappings -------------------------------------------------------------------------

    def read_tables(self, tables: list[fastyaml.Table], segments: dict[str, Segment], arch: Arch) -> None:
        """Read the rows of these tables not read yet column by column
        (:mod:`ptcalc.workload.columns`), when there are many; rows it leaves
        are read one by one (:meth:`table`)."""
        if not tables:
            return
        self.row_items.reserve(len(tables[0].distinct))
        rows = list(dict.fromkeys(chain.from_iterable(t.rows for t in tables)))
        new = list(compress(rows, map((0).__gt__, map(self.row_items.code.__getitem__, rows))))  # code -1: not read
        if len(new) >= COLUMN_ROWS:
            from ptcalc.workload import columns  # (a large file: numpy is imported there anyway)

            columns.read_rows(self, tables[0].distinct, new, segments, arch)

    def table(self, path: str, table: fastyaml.Table, segments: dict[str, Segment], arch: Arch
              ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[bool, ...]]:
        """The mappings of a :class:`fastyaml.Table` as the columns of their
        items (codes, addresses, auto).

        Each distinct row of the document is read once (:meth:`table_row`),
        as any mapping is, unless :meth:`read_tables` read it; the items are
        then looked up by row number.  Any problem raises as usual (the
        loader then re-reads the document through libyaml to locate it)."""
        items = self.row_items
        items.reserve(len(table.distinct))
        rows = table.rows
        if rows and rows[-1] - rows[0] == len(rows) - 1 and rows == list(range(rows[0], rows[-1] + 1)):
            # rows numbered in order (distinct mappings): the columns' slices
            first, end = rows[0], rows[-1] + 1
            if -1 not in items.code[first:end]:
                return (tuple(items.code[first:end]), tuple(items.address[first:end]),
                        tuple(map(bool, items.auto[first:end])))
        codes = list(map(items.code.__getitem__, rows))
        if -1 in codes:
            for j, row in enumerate(rows):
                if codes[j] < 0:
                    if not items.read(row):
                        items.put(row, self.table_row(f"{path}.mappings[{j}]", table, j, segments, arch))
                    codes[j] = items.code[row]
        return (tuple(codes), tuple(map(items.address.__getitem__, rows)),
                tuple(map(bool, map(items.auto.__getitem__, rows))))

    def table_row(self, path: str, table: fastyaml.Table, j: int, segments: dict[str, Segment],
                  arch: Arch) -> Item:
        """Item ``j`` of a table, read by :meth:`mapping_spec` and
        :meth:`address` as any mapping is, memoised on its texts: a generated
        workload maps the same few mappings at many addresses, and reading
        one costs more than looking it up."""
        keys, values = fastyaml.unpack(table.distinct[table.rows[j]])
        ai = keys.index("address") if "address" in keys else -1
        skey = (keys, values[:ai] + values[ai + 1:] if ai >= 0 else values)
        spec = self.spec_memo.get(skey)
        if spec is None:
            node = table.item(j)
            e = self.section(node, path, MAPPING)
            spec = self.spec_memo[skey] = self.mapping_spec(path, node, e, segments, arch)
        address = None
        if ai >= 0:
            page = segments[spec.segment].page_size
            akey = (values[ai], page, spec.size)
            address = self.address_memo.get(akey, _UNSET)
            if address is _UNSET:
                anode = table.scalar(j, ai)
                address = self.address_memo[akey] = self.address(anode, f"{path}.address", page, spec.size, arch)
        return Item(self.code(spec), address or 0, address is None)

    def mapping_spec(self, path: str, node: Node, e: Entries, segments: dict[str, Segment],
                     arch: Arch) -> MappingSpec:
        """Everything of a mapping but its address."""
        get = e.get
        # segment
        snode = self.require(e, node, path, _SEGMENT)
        sname = self.scalar(snode, f"{path}.segment", "a segment name")
        seg = segments.get(sname)
        if seg is None:
            # difflib is quadratic-ish per candidate: suggest among a sane number only
            hint = suggest(sname, segments) if len(segments) <= 1000 else ""
            if not hint and not segments:
                hint = " (there are no segments)"
            if not hint:
                names = ", ".join(show(n) for n in list(segments)[:5])
                hint = f" (segments: {names}{', ...' if len(segments) > 5 else ''})"
            raise self.error(snode, f"{path}.segment", f"no segment named {show(sname)}{hint}")
        page = seg.page_size
        # offset
        offset = self.get(e, path, _OFFSET)
        if offset:
            onode = e["offset"][1]
            opath = f"{path}.offset"
            if offset % page:
                raise self.error(
                    onode,
                    opath,
                    f"offset {exact(offset)} is not a multiple of the page size of segment "
                    f"{show(sname)} ({exact(page)})",
                )
            if offset >= seg.size:
                raise self.error(
                    onode,
                    opath,
                    f"offset {exact(offset)} is at or past the end of segment {show(sname)} "
                    f"({exact(seg.size)})",
                )
        # size
        zpath = f"{path}.size"
        pair = get("size")
        if pair is None:
            size = seg.size - offset
            if size > arch.user_limit:
                raise self.error(
                    node,
                    zpath,
                    f"the rest of segment {show(sname)} ({exact(size)}) does not fit in the user "
                    f"address space of {arch.name}; map part of it (size: ...)",
                )
        else:
            znode = pair[1]
            size = self.value(znode, zpath, _SIZE)
            if size % page:
                raise self.error(
                    znode,
                    zpath,
                    f"size {exact(size)} is not a multiple of the page size of segment "
                    f"{show(sname)} ({exact(page)})",
                )
            if offset + size > seg.size:
                raise self.error(
                    znode,
                    zpath,
                    f"the mapping runs past the segment's end: offset {exact(offset)} + size "
                    f"{exact(size)} > {exact(seg.size)} (segment {show(sname)})",
                )
        protection = self.get(e, path, _PROTECTION)
        uffd = self.get(e, path, _UFFD)
        soft_dirty = self.get(e, path, _SOFT_DIRTY)
        # touch
        pair = get("touch")
        touched: tuple[tuple[int, int], ...]
        if pair is None:
            touched = ((0, size),) if protection != "none" else ()
        else:
            touched = self.touch(pair[1], f"{path}.touch", size, page)
            if touched and protection == "none":
                raise self.error(
                    pair[1],
                    f"{path}.touch",
                    "a PROT_NONE mapping cannot be faulted in (protection: none touches nothing; "
                    "use touch: 0 or leave it out)",
                )
        return MappingSpec(sname, offset, size, protection, touched, uffd, soft_dirty)

    # -- instances (docs/workload-format.md): read as templates, then copied ---------------

    def instances(self, node: Node, segments: dict[str, Segment], groups: tuple[ProcessGroup, ...],
                  arch: Arch) -> tuple[dict[str, Segment], tuple[ProcessGroup, ...]]:
        """``instances:`` added to the top-level ``segments`` and ``groups``:
        each instance's segments and processes read as a template (segment
        names scoped to it, key paths under ``instances[i]``), then copied
        ``count`` times (:mod:`ptcalc.workload.instances`), within the file's budget."""
        items = self.sequence(node, "instances", WORKLOAD["instances"].what)
        if not items:
            raise self.error(node, "instances", "at least one instance is needed (or leave the key out)")
        out_segments = dict(segments)
        out_groups = list(groups)
        labels: dict[str, tuple[int, str, int]] = {}  # copy name -> (instance, its name, its count)
        for i, item in enumerate(items):
            path = f"instances[{i}]"
            e = self.section(item, path, INSTANCE)
            nnode = self.require(e, item, path, INSTANCE["name"])
            name = self.value(nnode, f"{path}.name", INSTANCE["name"])
            if expand.SEPARATOR in name:
                raise self.error(
                    nnode, f"{path}.name",
                    f"an instance name cannot contain {expand.SEPARATOR!r}, which separates it from its "
                    f"segments' names ({expand.segment_name('NAME', 'SEGMENT')})",
                )
            count = self.get(e, path, INSTANCE["count"])
            cnode = e["count"][1] if "count" in e else None
            self.check_labels(labels, i, name, count, nnode, f"{path}.name")
            scoped = _ScopedReader(self, f"{path}.")
            tsegments = scoped.segments(self.require(e, item, path, INSTANCE["segments"]), arch)
            reads = scoped.processes(self.require(e, item, path, INSTANCE["processes"]), tsegments, arch)
            specs = scoped.specs
            sizes = (len(tsegments), len(reads), sum(len(r.codes) for r in reads))
            over = self.budget.over(*(count * n for n in sizes))
            if over is not None:
                what, total = over
                each = dict(zip(expand.LIMITS, sizes))[what]
                one = {"segments": "segment", "process groups": "process group", "mappings": "mapping"}
                raise self.error(
                    cnode if cnode is not None else item, f"{path}.count" if cnode is not None else path,
                    f"{count:,} {'copies' if count != 1 else 'copy'} of instance {show(name)} "
                    f"({each:,} {what if each != 1 else one[what]} each) bring the file to {total:,} {what}; "
                    f"instances may expand a file to at most {expand.LIMITS[what]:,} {what}",
                )
            self.budget.add(*(count * n for n in sizes))
            for label in expand.copy_labels(name, count):
                copy_segments = expand.copy_segments(label, tsegments)
                for sname in copy_segments:
                    if sname in out_segments:  # only a top-level segment can have this name
                        raise self.error(
                            nnode, f"{path}.name",
                            f"segment {show(sname)} of this instance has the name of a top-level segment; "
                            "rename one",
                        )
                out_segments.update(copy_segments)
                copy_specs = expand.copy_specs(label, specs)
                out_groups.extend(r.group(copy_specs, expand.group_name(label, r.name), f"{path}.") for r in reads)
        return out_segments, tuple(out_groups)

    def check_labels(self, labels: dict[str, tuple[int, str, int]], i: int, name: str, count: int, node: Node,
                     path: str) -> None:
        """Instance names are unique, and so are the names of their copies (``pg``
        with ``count: 3`` is ``pg-1`` .. ``pg-3``); ``labels`` holds those of the
        instances before ``i``."""
        for j, jname, _ in labels.values():
            if jname == name:
                raise self.error(node, path, f"instance name {show(name)} is already used by instances[{j}]")

        def which(instance: str, n: int, label: str) -> str:
            return instance if n == 1 else f"copy {label.rsplit('-', 1)[1]} of {instance}"

        new = expand.copy_labels(name, count)
        for label in new:
            prev = labels.get(label)
            if prev is not None:
                j, jname, jcount = prev
                earlier = f"instances[{j}] ({show(jname)}, count {jcount:,})" if jcount > 1 else f"instances[{j}]"
                raise self.error(
                    node, path,
                    f"{show(label)} would name both {which(earlier, jcount, label)} and "
                    f"{which('this instance', count, label)} (copies of an instance with count N are "
                    "NAME-1 .. NAME-N); rename one",
                )
        for label in new:
            labels[label] = (i, name, count)


@lru_cache(maxsize=256)
def _default_layout(arch: Arch, private_memory: int) -> tuple[PrivateMapping, ...]:
    """The default layout of a process (one tuple for every group alike)."""
    return default_private_mappings(arch, private_memory)


class _ScopedReader(WorkloadReader):
    """Reads an instance's segments and processes as a workload's, its key
    paths under the instance's (``instances[2].segments.sga.size``), with
    memos and specs of its own (the same mapping text means other segments here)."""

    def __init__(self, parent: WorkloadReader, scope: str) -> None:
        super().__init__(parent.source, parent.fast, parent.budget)
        self.scope = scope

    def error(self, node: Node | None, keypath: str, message: str) -> WorkloadError:
        if message.startswith("no segment named") and keypath.endswith(".segment"):
            message += "; a mapping names a segment of its own instance"  # (mapping_spec)
        return super().error(node, self.scope + keypath, message)


__all__ = ["Budget", "GroupRead", "Item", "WorkloadReader"]
