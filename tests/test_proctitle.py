"""Process classes and labels (ptcalc.linux.proctitle): from strings as /proc gives them."""

from __future__ import annotations

import pytest

from ptcalc.linux.proctitle import plain_label, printable, process_class
from ptcalc.workload.writer import is_plain_name


@pytest.mark.parametrize("comm, cmdline, expected", [
    # PostgreSQL (init_ps_display(): "postgres: [cluster_name: ]activity")
    ("postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=x",
     "postgres"),
    ("postgres", "postgres: 15/main: checkpointer ", "postgres: checkpointer"),
    ("postgres", "postgres: background writer ", "postgres: background writer"),
    ("postgres", "postgres: walwriter ", "postgres: walwriter"),
    ("postgres", "postgres: logical replication launcher ", "postgres: logical replication launcher"),
    ("postgres", "postgres: autovacuum worker appdb", "postgres: autovacuum worker"),
    ("postgres", "postgres: parallel worker for PID 4242 ", "postgres: parallel worker"),
    ("postgres", "postgres: bgworker: pg_cron launcher ", "postgres: bgworker: pg_cron launcher"),
    ("postgres", "postgres: app appdb [local] SELECT", "postgres: client backend"),
    ("postgres", "postgres: 15/main: app appdb 10.0.0.7(51234) idle in transaction", "postgres: client backend"),
    ("postgres", "postgres: postgres postgres [local] idle", "postgres: client backend"),
    # Oracle: background processes ora_xxxx_SID, dedicated servers oracleSID (LOCAL=...)
    ("ora_pmon_orcl", "ora_pmon_ORCL", "ora_pmon_ORCL"),
    ("ora_dbw0_orcl", "ora_dbw0_ORCL", "ora_dbw0_ORCL"),
    ("oracle_12345_or", "oracleORCL (LOCAL=NO)", "oracleORCL (LOCAL=NO)"),
    ("oracle_12345_or", "oracleORCL (DESCRIPTION=(LOCAL=YES)(ADDRESS=(PROTOCOL=beq)))",
     "oracleORCL (DESCRIPTION=(LOCAL=YES)(ADDRESS=(PROTOCOL=beq)))"),
    # QEMU: the guest's name, not the rest of the command line
    ("qemu-system-x86", "/usr/bin/qemu-system-x86_64 -name guest=vm1,debug-threads=on -S -m 4096", 
     "qemu-system-x86_64 -name guest=vm1"),
    ("qemu-system-x86", "qemu-system-x86_64 -m 1G -name vm2", "qemu-system-x86_64 -name guest=vm2"),
    ("qemu-system-x86", "qemu-system-x86_64 -m 1G", "qemu-system-x86_64"),
    # anything else: the program's name
    ("sshd", "/usr/sbin/sshd -D", "sshd"),
    ("kworker", "", "kworker"),
])
def test_process_class(comm, cmdline, expected):
    assert process_class(comm, cmdline) == expected


def test_classes_are_safe_to_print():
    for comm, cmdline in [("a\x1b[31mb", "a\x1b[31mb --x"), ("x", "postgres: \x9b2J x [local] idle"),
                          ("z", "\udcff\udcfe" * 100)]:
        c = process_class(comm, cmdline)
        assert c == printable(c) and all(ch.isprintable() for ch in c) and len(c) <= 64


def test_printable():
    # each character that is not printable as a visible escape (what
    # ptcalc.names does for every name), a bidi override too; spaces collapsed
    assert printable("a\tb\nc\x00d\x7fe\x9bf") == r"a\x09b\x0ac\x00d\x7fe\x9bf"
    assert printable("rtl\u202egpj.exe") == r"rtl\u202egpj.exe"
    assert printable("  a   b ") == "a b"
    assert printable("x" * 100, 10) == "xxxxxxx..."
    assert printable("") == ""


@pytest.mark.parametrize("text", ["libc.so.6", "[anon:glibc: malloc arena]", "2.0", "yes", "ld-linux-x86-64.so.2",
                                  "a  b", "#x", "-x", "\x1b[2J", "", "ÿ", "x" * 100, "(deleted)"])
def test_plain_labels_read_back_as_written(text):
    import yaml

    from ptcalc.workload import fastyaml

    label = plain_label(text)
    assert is_plain_name(label)
    row = f"rows:\n  - {{kind: file, name: {label}, size: 4KiB}}\n"
    assert yaml.safe_load(row)["rows"][0]["name"] == label
    table = fastyaml.parse(row).value[0][1]
    assert table.item(0).value[1][1].value == label
