"""``ptcalc scan`` from the command line, on a child process of ours (no root needed)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ptcalc.cli import main

KiB, MiB = 1 << 10, 1 << 20
CHILD = Path(__file__).with_name("scan_child.py")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


@pytest.fixture
def child():
    fd = os.memfd_create("ptcalc-cli-test", 0)
    os.ftruncate(fd, 8 * MiB)
    spec = [dict(fd=fd, address=0x200000000000, offset=0, size=8 * MiB, prot="rw", nohuge=True,
                 touch=[0, 4 * KiB, 5 * MiB])]
    p = subprocess.Popen([sys.executable, str(CHILD), json.dumps(spec)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, pass_fds=(fd,))
    try:
        report = json.loads(p.stdout.readline() or '{"error": "child died"}')
        if "error" in report:
            pytest.fail(report["error"])
        yield p.pid
    finally:
        p.stdin.close()
        p.wait(timeout=30)
        os.close(fd)


def test_scan_to_stdout_and_file(child, tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["scan", "--pid", str(child), "--touched", "pages"])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(r.stdout)
    assert doc["segments"]["memfd:ptcalc-cli-test"] == {"size": "8MiB", "backing": "shmem", "page_size": "4KiB"}
    (m,) = doc["processes"][0]["mappings"]
    assert (m["address"], m["size"], m["touch"]) == (0x200000000000, "8MiB", ["0-8K", "5M-5124K"])
    out = tmp_path / "w.yaml"
    r = runner.invoke(main, ["scan", "-p", str(child), "-o", str(out)])
    assert r.exit_code == 0 and r.stdout == ""
    assert f"wrote {out}: 1 segment, 1 process in 1 group" in r.stderr
    # --touched tables (the default): the 2 MiB blocks holding those pages, whole
    assert yaml.safe_load(out.read_text())["processes"][0]["mappings"][0]["touch"] == ["0-2M", "4M-6M"]


def test_scan_errors():
    runner = CliRunner()
    r = runner.invoke(main, ["scan", "--pid", "0"])
    assert r.exit_code == 2 and "--pid" in r.stderr
    r = runner.invoke(main, ["scan", "--min-size", "lots"])
    assert r.exit_code == 2 and "--min-size" in r.stderr and "Traceback" not in r.output
    # a process that does not exist: skipped, counted, and nothing to write
    r = runner.invoke(main, ["scan", "--pid", "4194304"])
    assert r.exit_code == 1
    assert "1 process skipped (1 vanished)" in r.stderr
    assert "no workload written" in r.stderr


def test_scan_feeds_estimate(child, tmp_path):
    """The scanned file goes straight into ``ptcalc estimate``, whose VmPTE of
    the child is the kernel's: the whole process (its program, libraries,
    heap and stack), not only the segment (whose 2 MiB blocks 0 and 2, alone
    in their 512 GiB window, take 2 PTE + 1 PMD + 1 PUD tables = 16 KiB)."""
    out = tmp_path / "w.yaml"
    runner = CliRunner()
    assert runner.invoke(main, ["scan", "-p", str(child), "-o", str(out)]).exit_code == 0
    r = runner.invoke(main, ["estimate", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    cell = next(c for c in doc["cells"] if c["configured"] and c["scheme"] == "private")
    (group,) = cell["page_tables"]["groups"]
    with open(f"/proc/{child}/status") as f:
        vmpte = next(int(line.split()[1]) * KiB for line in f if line.startswith("VmPTE:"))
    assert (group["count"], group["vmpte_bytes"]) == (1, vmpte)
    assert vmpte >= 16 * KiB + 5 * 4 * KiB  # the segment's tables and some of its own
    r = runner.invoke(main, ["estimate", str(out)])
    assert r.exit_code == 0 and "private" in r.stdout


def test_scan_names_the_schema_for_editors(child, tmp_path):
    """The first line is a yaml-language-server modeline naming the schema file
    of this installation (what ``ptcalc schema`` prints), and the written file
    is valid against it (check-jsonschema, as in tests/test_schema.py)."""
    from check_jsonschema import main as check_jsonschema

    runner = CliRunner()
    out = tmp_path / "w.yaml"
    assert runner.invoke(main, ["scan", "-p", str(child), "-o", str(out)]).exit_code == 0
    first = out.read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    schema = Path(first[len(prefix):])
    assert schema.is_absolute() and str(schema) == runner.invoke(main, ["schema", "--path"]).stdout.strip()
    assert schema.read_text() == runner.invoke(main, ["schema"]).stdout
    r = runner.invoke(check_jsonschema, ["--schemafile", str(schema), str(out)])
    assert r.exit_code == 0, r.output
    # a URL or a path relative to the file, as given; or no modeline
    for ref in ("https://example.org/ptcalc-workload.schema.json", "../schemas/ptcalc-workload.schema.json"):
        r = runner.invoke(main, ["scan", "-p", str(child), "--schema", ref])
        assert r.stdout.splitlines()[0] == prefix + ref
    r = runner.invoke(main, ["scan", "-p", str(child), "--schema", "none"])
    assert not r.stdout.startswith("# yaml-language-server") and "yaml-language-server" not in r.stdout
    assert yaml.safe_load(r.stdout)["processes"][0]["count"] == 1


class _Tty:
    """A terminal-like stream for the progress bar."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


def test_progress_bar_only_on_a_terminal_after_the_delay():
    from ptcalc.render.progress import ScanProgress

    quick = _Tty()
    with ScanProgress(quick, delay=3600) as p:
        p(1, 10)
    assert quick.text == []  # a quick scan shows nothing
    slow = _Tty()
    with ScanProgress(slow, delay=0) as p:
        p(5, 10)
    assert any("reading processes" in t for t in slow.text)
    pipe = io.StringIO()  # not a terminal: nothing
    with ScanProgress(pipe, delay=0) as p:
        p(5, 10)
    assert pipe.getvalue() == ""


def test_quiet_and_read_all(child, tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["scan", "-p", str(child), "--quiet", "--read-all", "-o", str(tmp_path / "w.yaml")])
    assert r.exit_code == 0 and "wrote" in r.stderr
