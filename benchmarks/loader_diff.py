#!/usr/bin/env python3
"""Differential check of the workload loader against another tree's.

    python benchmarks/loader_diff.py SEED N > new.txt
    PYTHONPATH=/path/to/other/tree python benchmarks/loader_diff.py SEED N > old.txt
    diff old.txt new.txt

Makes N random workload documents from SEED (one to three groups of mapping
tables in scan's block style or in flow style; random key orders, sizes,
offsets, addresses, protections, userfaultfd, soft-dirty and touch texts,
4% of the values from a pool of wrong or unusual spellings), loads each
with ``COLUMN_ROWS = 1`` (every table through ptcalc.workload.columns) and
prints a line per document: a digest of the ``repr`` of its workloads, or
of its error message, then their start.  The same lines from both trees:
the same workloads and the same located errors (load6 ran 5 seeds x
10,000, docs/benchmarks.md)."""
import hashlib, random, sys
from ptcalc.errors import WorkloadError
from ptcalc.workload import reader, loader
reader.COLUMN_ROWS = 1
seed, n = int(sys.argv[1]), int(sys.argv[2])
SEGS = [("s0", "shmem", "4KiB"), ("s1", "hugetlb", "2MiB"), ("s2", "file", "4KiB"), ("s3", "hugetlb", "1GiB"),
        ("s4", "shmem", "2MiB")]
TOUCH_SCALARS = ["1.0", "1", "100%", "0", "0.0", "0%", "0.5", "50%", "4KiB", "5KiB", "0KiB", "8192B", "4096", "64GiB",
                 '"12KiB"', "'1.0'", "yes", "null", "~", "1.5", "2M", "999999999999999999PiB", "0x1000", "12K",
                 "2MiB", "4MiB", "1GiB", "0.25", ".5", "1e3", "3%", "101%", "-1", "8KB", "8kB", "1.0 ", '"1.0"', "true",
                 "1_000", "08", "4 KiB", "4KiB # c", "0.999", "1/2"]
RANGE_TOKENS = ["0", "4K", "8K", "2M", "6M", "1G", "5", "4097", "12K", "1M", "64M", "2G", "0K", "01", "1.5K",
                "99999999999999999", "4611686018427387904", "16T", "3", "2T"]
def touch_list(r):
    k = r.randint(0, 4)
    if r.random() < 0.9:
        out, at = [], 0
        for _ in range(k):
            a = at + r.choice([0, 1, 4096, 8192, 1 << 20, 3 << 20])
            b = a + r.choice([1, 4096, 5000, 1 << 20, 2 << 20])
            at = b + r.choice([0, 1, 4096])
            fmt = lambda x: (f"{x >> 20}M" if x % (1 << 20) == 0 and x else f"{x >> 10}K" if x % 1024 == 0 and x else str(x))
            out.append(f"{fmt(a)}-{fmt(b)}")
        if r.random() < 0.2:
            r.shuffle(out)
    else:
        out = [f"{r.choice(RANGE_TOKENS)}-{r.choice(RANGE_TOKENS)}" for _ in range(k)]
    sep = r.choice([", ", ", ", ",", " , ", ",  "])
    return r.choice(["[", "[", "[ "]) + sep.join(out) + r.choice(["]", "]", " ]"])
PAGE = {"4KiB": 4096, "2MiB": 2 << 20, "1GiB": 1 << 30}
def fmt_size(x):
    for u, sh in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if x and x % (1 << sh) == 0:
            return f"{x >> sh}{u}"
    return str(x)
def value(r, key, seg, j, g):
    name, backing, page = seg
    p = PAGE[page]
    tricky = r.random() < 0.04
    if key == "segment":
        return r.choice([f"'{name}'", '"nope"', "yes", f'"{name} "']) if tricky else r.choice([f'"{name}"', name])
    if key == "offset":
        if tricky:
            return r.choice(["0x0", "0x200000", "5000", "64GiB", '"0"', "1.0GiB", "4096B", "4K", "2147483648"])
        return fmt_size(p * r.randrange(0, 4)) if r.random() < 0.8 else hex(p * r.randrange(0, 4))
    if key == "size":
        if tricky:
            return r.choice(["0", "5KiB", "0x1000", "999999999999999999PiB", '"2MiB"', "2M", "2097152", "12288", "1TiB"])
        return fmt_size(p * r.randint(1, 3))
    if key == "address":
        if tricky:
            return r.choice(['"auto"', "1TiB", "0X10000000000", "0x1000", "0xffffffffffff", "0x10000001000"])
        return "auto" if r.random() < 0.2 else hex((1 << 40) + (g << 36) + j * (8 << 30))
    if key == "protection":
        return r.choice(['"rw"', "x", "RW", "none"]) if tricky else r.choice(["rw", "r", "rw"])
    if key == "userfaultfd":
        return r.choice(["x", '"wp"', "Wp"]) if tricky else r.choice(["none", "wp", "missing", "minor"])
    if key == "soft_dirty":
        return r.choice(["yes", "on", "1", '"true"', "True", "no"]) if tricky else r.choice(["true", "false"])
    if key == "touch":
        if r.random() < 0.5:
            return r.choice(TOUCH_SCALARS) if tricky else r.choice(["1.0", "1", "100%", "0", "0%", "0.5", "50%", "4KiB", "8192B", "12K", "2MiB", "0.25", "3%", "0KiB", "4096"])
        return touch_list(r)
KEYS = ["segment", "offset", "size", "address", "protection", "touch", "userfaultfd", "soft_dirty"]
def doc(r):
    segs = r.sample(SEGS, r.randint(1, len(SEGS)))
    lines = ["host: {memory: " + r.choice(["16TiB", "64GiB", "1PiB"]) + "}", "segments:"]
    for name, backing, page in segs:
        lines.append(f"  {name}: {{size: {r.choice(['64GiB', '8GiB', '4GiB'])}, backing: {backing}, page_size: {page}}}")
    lines.append("processes:")
    base_keys = ["segment"] + [k for k in KEYS[1:] if r.random() < 0.6]
    for g in range(r.randint(1, 3)):
        lines += [f"  - name: g{g}", f"    count: {r.choice([1, 3, 10])}", "    mappings:"]
        style = r.random()
        for j in range(r.randint(1, 6)):
            keys = base_keys if r.random() < 0.9 else ["segment"] + [k for k in KEYS[1:] if r.random() < 0.5]
            seg = r.choice(segs)
            vals = [(k, value(r, k, seg, j, g)) for k in keys]
            if style < 0.7:
                lines.append(f"      - {vals[0][0]}: {vals[0][1]}")
                lines += [f"        {k}: {v}" for k, v in vals[1:]]
            else:
                lines.append("      - {" + ", ".join(f"{k}: {v}" for k, v in vals) + "}")
    return "\n".join(lines) + "\n"
r = random.Random(seed)
out = []
for i in range(n):
    text = doc(r)
    try:
        got = repr(loader.loads_workloads(text, "t.yaml"))
    except WorkloadError as e:
        got = "E " + str(e)
    out.append(f"{i} {hashlib.sha1(got.encode()).hexdigest()[:16]} {got[:60]!r}")
print("\n".join(out))
