"""A process for the what-if placement kernel test: lets the kernel place a
segment (``mmap`` with address 0) on 4 KiB pages and then on hugetlb pages,
and reports where, and its VmPTE around touching the hugetlb mapping.

Run as ``python placement_child.py SPEC_JSON`` (SPEC: ``{"shmem_fd": FD,
"shmem_size": BYTES, "huge_fd": FD, "huge_size": BYTES, "page": BYTES}``);
it obeys one command per line on standard input and answers each with one
JSON line:

    map4k    -> {"address": A}        mmap(NULL, shmem_size, MAP_SHARED, shmem_fd)
    unmap4k  -> {"ok": true}          munmap it (nothing was touched)
    maphuge  -> {"address": A, "before": B, "after": C}
                mmap(NULL, huge_size, MAP_SHARED, huge_fd), one byte written per
                huge page, VmPTE before mapping and after
    maplater -> {"address": A, "after": C}
                mmap(NULL, 64 KiB, MAP_PRIVATE|MAP_ANONYMOUS): a mapping made after
                the segment (the kernel puts it below), every page written; VmPTE after
    unmaplater -> {"ok": true}

Everything is allocated before the first command, and nothing between the
VmPTE readings but the mapping and the faults (tests/scan_child.py does the
same), so that the process's own page tables do not move while measured.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys

from ptcalc.linux import syscalls

PROT_READ, PROT_WRITE = 1, 2
MAP_SHARED = 0x01
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20
LATER = 64 * 1024
MAP_FAILED = ctypes.c_void_p(-1).value


def main() -> int:
    spec = json.loads(sys.argv[1])
    libc = syscalls.libc()  # mmap and munmap typed as ptcalc's measure calls them
    status = os.open("/proc/self/status", os.O_RDONLY)
    memset = ctypes.memset

    def vmpte() -> int:
        os.lseek(status, 0, os.SEEK_SET)
        text = os.read(status, 65536)
        i = text.index(b"VmPTE:")
        return int(text[i + 6:text.index(b"kB", i)]) * 1024

    rw = PROT_READ | PROT_WRITE
    n_pages = spec["huge_size"] // spec["page"]
    offsets = [i * spec["page"] for i in range(n_pages)]
    state = {"a4k": 0, "later": 0}
    vmpte()
    vmpte()
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "map4k":
            a = libc.mmap(None, spec["shmem_size"], rw, MAP_SHARED, spec["shmem_fd"], 0)
            state["a4k"] = a
            out = {"address": a} if a != MAP_FAILED else {"error": ctypes.get_errno()}
        elif cmd == "unmap4k":
            out = {"ok": libc.munmap(state["a4k"], spec["shmem_size"]) == 0}
        elif cmd == "maphuge":
            gc.collect()
            gc.disable()
            before = vmpte()
            a = libc.mmap(None, spec["huge_size"], rw, MAP_SHARED, spec["huge_fd"], 0)
            if a == MAP_FAILED:
                out = {"error": ctypes.get_errno()}
            else:
                for off in offsets:
                    memset(a + off, 1, 1)
                after = vmpte()
                out = {"address": a, "before": before, "after": after}
            gc.enable()
        elif cmd == "maplater":
            gc.disable()
            a = libc.mmap(None, LATER, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if a == MAP_FAILED:
                out = {"error": ctypes.get_errno()}
            else:
                state["later"] = a
                for off in range(0, LATER, 4096):
                    memset(a + off, 1, 1)
                out = {"address": a, "after": vmpte()}
            gc.enable()
        elif cmd == "unmaplater":
            out = {"ok": libc.munmap(state["later"], LATER) == 0}
        else:
            out = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
