"""Names for what ``ptcalc scan`` finds: process classes, mapping labels.

Pure functions of strings already read from /proc (``comm``, ``cmdline``, a
mapping's path), so they are tested anywhere.  Every name that comes from a
process passes :func:`printable` -- text from /proc made safe to print
(:func:`ptcalc.names.printable`: anything not printable as a visible escape)
and of bounded length -- before anything else looks at it.

    process (cmdline / comm)                                 class (the group's name)
    -------------------------------------------------------  ---------------------------------------
    postgres -D /var/lib/postgresql/15/main (the postmaster)  postgres
    postgres: 15/main: checkpointer                          postgres: checkpointer
    postgres: checkpointer                                   postgres: checkpointer
    postgres: app appdb [local] SELECT                       postgres: client backend
    postgres: 15/main: app appdb 10.0.0.7(51234) idle        postgres: client backend
    postgres: parallel worker for PID 4242                   postgres: parallel worker
    postgres: autovacuum worker appdb                        postgres: autovacuum worker
    ora_pmon_ORCL                                            ora_pmon_ORCL
    oracleORCL (LOCAL=NO)                                    oracleORCL (LOCAL=NO)
    qemu-system-x86_64 -name guest=vm1,debug-threads=on ...  qemu-system-x86_64 -name guest=vm1
    /usr/sbin/sshd -D                                        sshd
"""

from __future__ import annotations

import re

from ptcalc import names
from ptcalc.workload.writer import YAML_WORDS

MAX_NAME = 64
"""Longest name kept (characters); longer ones are cut and end in ``...``."""

def printable(text: str, limit: int = MAX_NAME) -> str:
    """``text`` safe to print, for a name: every character that is not
    printable (control characters, escape sequences' ESC and CSI, bidi
    overrides, undecodable bytes) written as a visible escape by
    :func:`ptcalc.names.printable` -- the filter every name from outside
    passes -- spaces collapsed, and the length capped.

    >>> printable("evil\\x1b[2Jname\\n"), printable("a" * 70)[-5:], printable("rtl\\u202eabc")
    ('evil\\\\x1b[2Jname\\\\x0a', 'aa...', 'rtl\\\\u202eabc')
    """
    out = " ".join(names.printable(text).split())
    return out if len(out) <= limit else out[: limit - 3].rstrip() + "..."


_PLAIN_BAD = re.compile(r"[^A-Za-z0-9_.+()/-]+")


def plain_label(text: str, limit: int = 40) -> str:
    """A label that YAML reads as a plain string in a flow mapping (what the
    scan writes private mappings' names as): letters, digits and ``_.+()/-``,
    words separated by one space, starting with a letter or ``_``, never a
    YAML 1.1 boolean or null.

    >>> plain_label("libc.so.6"), plain_label("[anon:glibc: malloc]"), plain_label("2.0"), plain_label("on")
    ('libc.so.6', '_anon_glibc_ malloc_', '_2.0', 'on_')
    """
    words = [_PLAIN_BAD.sub("_", w) for w in printable(text, limit).split()]
    out = " ".join(w for w in words if w) or "_"
    if not (out[0].isascii() and (out[0].isalpha() or out[0] == "_")):
        out = "_" + out
    if out.lower() in YAML_WORDS:
        out += "_"
    return out


# --- process classes --------------------------------------------------------------------------

_PG_AUX = ("checkpointer", "background writer", "walwriter", "wal writer", "autovacuum launcher",
           "autovacuum worker", "logical replication launcher", "logical replication worker",
           "logical replication apply worker", "logical replication parallel apply worker",
           "logical replication tablesync worker", "archiver", "stats collector", "walsender", "walreceiver",
           "startup", "wal summarizer", "slotsync worker", "parallel worker", "io worker", "bgworker:")
"""PostgreSQL's auxiliary processes, as their titles start (init_ps_display() callers,
src/backend/postmaster/*.c): the rest of such a title (a database, a PID, a recovery
position) varies and is left out of the class."""

_PG_TITLE = re.compile(r"postgres: (?:[^:]{1,64}: )?(.*)")
"""``postgres: [cluster_name: ]activity`` (init_ps_display(): the cluster name appears
when ``cluster_name`` is set, as Debian's clusters have it)."""

_QEMU_NAME = re.compile(r"(?:^| )-name (?:guest=)?([^, ]+)")


def process_class(comm: str, cmdline: str) -> str:
    """The class a process is grouped and named by: stable between scans of a
    host (no PIDs, client addresses or query states), recognisable, safe to print.

    >>> process_class("postgres", "postgres: 15/main: app appdb [local] SELECT")
    'postgres: client backend'
    >>> process_class("postgres", "postgres: walwriter ")
    'postgres: walwriter'
    >>> process_class("qemu-system-x86", "/usr/bin/qemu-system-x86_64 -name guest=vm1,debug-threads=on -m 4G")
    'qemu-system-x86_64 -name guest=vm1'
    >>> process_class("ora_pmon_orcl", "ora_pmon_ORCL"), process_class("sshd", "/usr/sbin/sshd -D")
    ('ora_pmon_ORCL', 'sshd')
    """
    comm = printable(comm)
    title = printable(cmdline, 256)
    if not title:
        return comm or "?"
    argv0 = title.split(" ", 1)[0]
    base = argv0.rsplit("/", 1)[-1]
    m = _PG_TITLE.fullmatch(title) if title.startswith("postgres: ") else None
    if m is not None:
        # with or without a cluster name before the activity ("bgworker: NAME" has a colon too)
        for activity in (title[len("postgres: "):].strip(), m.group(1).strip()):
            for aux in _PG_AUX:
                if activity.startswith(aux):
                    return "postgres: " + (activity if aux == "bgworker:" else aux)
        return "postgres: client backend"
    if base.startswith("qemu-system-") or comm.startswith("qemu-system"):
        g = _QEMU_NAME.search(title)
        return printable(f"{base} -name guest={g.group(1)}" if g else base)
    if base.startswith(("ora_", "asm_", "oracle")) or title.startswith(("ora_", "asm_")):
        # Oracle background processes set argv[0] to ora_pmon_SID; dedicated servers to
        # oracleSID (LOCAL=NO|YES) (the client's address, if any, follows and varies)
        return printable(" ".join(title.split()[:2]) if title.startswith("oracle") else argv0)
    return printable(base) or comm or "?"
