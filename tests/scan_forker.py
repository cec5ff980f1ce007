"""Forked workers for the scan's identical-process test: one process maps a
memfd MAP_SHARED, touches some of it, then forks children that touch their own
pages of it (after the fork) and wait.  Forked children share their parent's
layout, as a PostgreSQL cluster's processes do.

Run as ``python scan_forker.py SPEC_JSON``: ``{"size": bytes, "touch": [offsets],
"children": [[offsets], ...]}``.  Prints the children's PIDs as one JSON line
once every child has touched its pages, then waits until standard input closes
(the children exit with it).
"""

from __future__ import annotations

import json
import mmap
import os
import sys

MADV_NOHUGEPAGE = 15


def main() -> int:
    spec = json.loads(sys.argv[1])
    fd = os.memfd_create("ptcalc-scan-forker")
    os.ftruncate(fd, spec["size"])
    buf = mmap.mmap(fd, spec["size"], flags=mmap.MAP_SHARED)
    buf.madvise(MADV_NOHUGEPAGE)
    for off in spec["touch"]:
        buf[off] = 1
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pids = []
    for extra in spec["children"]:
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            for off in extra:
                buf[off] = 2
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
