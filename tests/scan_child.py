"""A process for the scan kernel test: maps segments at fixed addresses,
touches given pages, and reports its VmPTE before and after.

Run as ``python scan_child.py SPEC_JSON``; SPEC is a list of mappings::

    {"fd": 5, "address": ..., "offset": ..., "size": ..., "prot": "rw"|"r",
     "touch": [byte offsets from the mapping start], "nohuge": true}
    {"shmid": 123, "address": ..., "size": ..., "prot": ..., "touch": [...]}
    {"private": "anon", "address": ..., "size": ..., "touch": [...], "thp": true,
     "unmap": [[offset, length], ...]}       # MAP_PRIVATE|MAP_ANONYMOUS; THP: MADV_HUGEPAGE
    {"private": "file", "fd": 6, "address": ..., "offset": ..., "size": ...,
     "touch": [...], "write": [...]}         # MAP_PRIVATE of a file: read faults, COW writes

Private anonymous mappings are written to (a read fault would map the shared
zero page, a THP region the huge zero page); ``unmap`` ranges are unmapped
after the touching (a partial munmap can leave an empty PTE table behind).

It prints one JSON line ``{"before": bytes, "after": bytes}`` (or
``{"error": ...}``) and then waits until its standard input closes.  Between
the two VmPTE readings it only maps and touches: everything it needs is
allocated beforehand, so no page tables of its own heap can sneak in.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys

from ptcalc.linux import syscalls

PROT_READ, PROT_WRITE = 1, 2
MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE = 0x01, 0x02, 0x20, 0x100000
MADV_HUGEPAGE, MADV_NOHUGEPAGE = 14, 15
SHM_RDONLY = 0o10000


def main() -> int:
    spec = json.loads(sys.argv[1])
    libc = syscalls.libc()  # mmap, munmap and madvise typed as ptcalc's measure calls them
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    memset = ctypes.memset
    status = os.open("/proc/self/status", os.O_RDONLY)

    def vmpte() -> int:
        os.lseek(status, 0, os.SEEK_SET)
        text = os.read(status, 65536)
        i = text.index(b"VmPTE:")
        return int(text[i + 6:text.index(b"kB", i)]) * 1024

    # everything allocated up front: addresses, arguments, the results
    jobs = []
    for m in spec:
        prot = PROT_READ | (PROT_WRITE if m.get("prot", "rw") == "rw" else 0)
        pages = [m["address"] + off for off in m["touch"]]
        jobs.append((m, prot, pages, [m["address"] + off for off in m.get("write", ())],
                     [(m["address"] + off, n) for off, n in m.get("unmap", ())]))
    results = [0, 0]
    errors: list[str] = []
    gc.collect()
    gc.disable()
    vmpte()
    vmpte()  # warm: the second reading allocates nothing new
    results[0] = vmpte()
    for m, prot, pages, writes, unmaps in jobs:
        if m.get("private") == "anon":
            addr = libc.mmap(m["address"], m["size"], PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
            if addr == m["address"]:
                libc.madvise(addr, m["size"], MADV_HUGEPAGE if m.get("thp") else MADV_NOHUGEPAGE)
                for p in pages:
                    memset(p, 1, 1)
                for a, n in unmaps:
                    libc.munmap(a, n)
        elif m.get("private") == "file":
            addr = libc.mmap(m["address"], m["size"], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE,
                             m["fd"], m["offset"])
            if addr == m["address"]:
                for p in pages:
                    ctypes.c_char.from_address(p).value  # noqa: B018 - a read fault: the page cache page
                for p in writes:
                    memset(p, 1, 1)  # copy on write: an anonymous page in the file mapping
        elif "shmid" in m:
            addr = libc.shmat(m["shmid"], m["address"], 0 if m["prot"] == "rw" else SHM_RDONLY)
        else:
            addr = libc.mmap(m["address"], m["size"], prot, MAP_SHARED | MAP_FIXED_NOREPLACE, m["fd"], m["offset"])
            if addr == m["address"] and m.get("nohuge"):
                libc.madvise(addr, m["size"], MADV_NOHUGEPAGE)
        if addr != m["address"]:
            errors.append(f"map at {m['address']:#x} failed: errno {ctypes.get_errno()}")
            break
        if "private" in m:
            continue
        if m["prot"] == "rw":
            for p in pages:
                memset(p, 1, 1)
        else:
            for p in pages:
                ctypes.c_char.from_address(p).value  # noqa: B018 - a read fault
    results[1] = vmpte()
    gc.enable()
    if errors:
        print(json.dumps({"error": errors[0]}), flush=True)
    else:
        print(json.dumps({"before": results[0], "after": results[1]}), flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
