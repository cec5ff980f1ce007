"""Forked workers for the scan's identical-process test: one process maps a
memfd MAP_SHARED, touches some of it, then forks children that touch their own
pages of it (after the fork) and wait.  Forked children share their parent's
layout, as a PostgreSQL cluster's processes do.

Run as ``python scan_forker.py SPEC_JSON``: ``{"size": bytes, "touch": [offsets],
"children": [[offsets], ...]}``, optionally ``"shift": bytes`` (a page multiple
below 2 MiB: the memfd mapped that far past a 2 MiB boundary, so that its
blocks of addresses and of file offsets differ).  Prints the children's PIDs as one JSON line
once every child has touched its pages, then waits until standard input closes
(the children exit with it).

The memfd is mapped at a 2 MiB-aligned address, so that its 2 MiB blocks of
addresses and of file offsets are the same: pages the tests put in one block
are in one PTE table whatever address the kernel would have picked (an
unaligned address put 20 MiB + 12 KiB in the next block of addresses in about
one run of fifty, splitting three children that touched 20 MiB + 4, 8 and
12 KiB into two groups).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import sys

MADV_NOHUGEPAGE = 15
PMD_SIZE = 2 << 20
MAP_FIXED = 0x10
PROT_NONE = 0
MAP_FAILED = ctypes.c_void_p(-1).value

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def _checked(ret: int | None, what: str) -> int:
    if ret is None or ret == MAP_FAILED or ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def map_aligned(fd: int, size: int, shift: int = 0) -> int:
    """``fd`` mapped MAP_SHARED at a 2 MiB-aligned address (plus ``shift``): a
    reservation 4 MiB larger, the file mapped MAP_FIXED over its first
    aligned part, the rest of the reservation unmapped."""
    base = _checked(libc.mmap(None, size + 2 * PMD_SIZE, PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                              -1, 0), "reserve")
    addr = ((base + PMD_SIZE - 1) & ~(PMD_SIZE - 1)) + shift
    _checked(libc.mmap(addr, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED | MAP_FIXED, fd, 0),
             "map the memfd")
    if addr > base:
        libc.munmap(base, addr - base)
    if base + size + 2 * PMD_SIZE > addr + size:
        libc.munmap(addr + size, base + size + 2 * PMD_SIZE - (addr + size))
    _checked(libc.madvise(addr, size, MADV_NOHUGEPAGE), "madvise")
    return addr


def main() -> int:
    spec = json.loads(sys.argv[1])
    fd = os.memfd_create("ptcalc-scan-forker")
    os.ftruncate(fd, spec["size"])
    buf = (ctypes.c_char * spec["size"]).from_address(map_aligned(fd, spec["size"], spec.get("shift", 0)))
    for off in spec["touch"]:
        buf[off] = b"\x01"
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pids = []
    for extra in spec["children"]:
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            for off in extra:
                buf[off] = b"\x02"
            os.write(ready_w, b"r")
            os.read(go_r, 1)  # returns at EOF: when the parent closes go_w or exits
            os._exit(0)
        pids.append(pid)
    os.close(ready_w)
    os.close(go_r)
    got = 0
    while got < len(pids):
        got += len(os.read(ready_r, len(pids) - got))
    print(json.dumps(pids), flush=True)
    sys.stdin.read()
    os.close(go_w)
    for pid in pids:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
