"""A noisy neighbour for the kernel tests: another job on the machine, in a
process of its own, that allocates, touches and frees memory and forks and
execs short-lived processes in a loop -- what made ``ptcalc measure`` report
false differences (issue 16) -- for at most ``--seconds`` (bounded in time).

    python tests/noisy_neighbour.py [--seconds 300]

Each round it

* maps 8 to 48 MiB of anonymous memory and touches one page in every 64 KiB
  (page tables of its own, which its VmPTE shows), then unmaps it;
* forks 1 to 3 processes that touch 4 MiB and exit after 0 to 20 ms (page
  tables and PGDs that exist before /proc shows the process, and are freed
  after it is gone, RCU-deferred or held by a CPU's lazy-TLB mm);
* every 8th round runs ``/bin/true`` (a process that execs: a new mm);

and sleeps ``PAUSE`` (30 ms): about 20 processes a second, a third of one
CPU; a PageTables reading is off by one or more tables more often than not.
``start()`` and ``stop()`` run it from a fixture (tests/conftest.py ``noisy_neighbour``): its own session, so
that ``stop()`` ends it and any child it has with one signal to its group.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import random
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = 4096
PAUSE = 0.03
"""Seconds between rounds: about 20 processes forked a second."""
PR_SET_PDEATHSIG = 1  # include/uapi/linux/prctl.h


def _touch(size: int, stride: int) -> None:
    m = mmap.mmap(-1, size)
    for off in range(0, size, stride):
        m[off] = 1
    m.close()


def _child(rng: random.Random) -> None:
    try:
        _touch(4 << 20, PAGE)
        time.sleep(rng.random() * 0.02)
    finally:
        os._exit(0)


def run(seconds: float, seed: int = 16) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))
    # end with the test run that started us, however it ends
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    n = 0
    while time.monotonic() < deadline:
        _touch(rng.randrange(8, 49) << 20, 64 << 10)
        kids = []
        for _ in range(rng.randrange(1, 4)):
            pid = os.fork()
            if pid == 0:
                _child(rng)
            kids.append(pid)
        if n % 8 == 0 and os.path.exists("/bin/true"):
            subprocess.run(["/bin/true"], check=False)
        for pid in kids:
            os.waitpid(pid, 0)
        n += 1
        time.sleep(PAUSE)


def start(seconds: float = 300) -> subprocess.Popen[bytes]:
    """Start the neighbour (``seconds`` at most) and wait until it runs."""
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "noisy_neighbour.py"), "--seconds", str(seconds)],
                         start_new_session=True)
    time.sleep(0.3)
    if p.poll() is not None:
        raise RuntimeError(f"the noisy neighbour exited at once (status {p.returncode})")
    return p


def stop(p: subprocess.Popen[bytes]) -> None:
    """End the neighbour and whatever it forked (its own process group)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


if __name__ == "__main__":
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 300.0
    run(seconds)
