"""Run one command and report its wall time, CPU time and peak RSS as JSON.

benchmarks/run.py starts every measured command through this small process
(``python -S``, about 10 MiB) rather than forking it from itself: Linux
carries a process's peak-RSS high-water mark across fork and exec, so a
child of the benchmark driver -- which holds the generated workloads --
would report the driver's size, not its own.  The command's stdout goes to
/dev/null; its stderr passes through.

    python -S benchmarks/_launch.py CMD [ARG ...]
    -> [wall_s, user_plus_sys_s, max_rss_kib, exit_code]
"""

import json
import os
import sys
import time

argv = sys.argv[1:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:  # the child: stdout to /dev/null, then become the command
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
print(json.dumps([wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, os.waitstatus_to_exitcode(status)]))
