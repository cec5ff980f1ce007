"""Output that cannot be written (issue 16.4): every command, every format.

* standard output on a full disk (/dev/full), or a ``--junit``/``-o`` file
  that cannot be created: one line ``ptcalc: cannot write WHAT: REASON`` on
  stderr, exit status 74 (EX_IOERR);
* standard output closed (a pipe whose reader is gone, ``| head``): the rest
  of the output is dropped without a word and the command keeps its own exit
  status (check's and measure's verdicts too): the same status and stderr as
  with standard output on /dev/null.  (Python drops the rest of a write that
  the reader leaves in the middle of without reporting it, so a status of
  its own for a closed pipe could not be given consistently.)

Never exit 70 ("internal error"), never a traceback, never a signal.  Each
case runs ptcalc in a subprocess with its standard output a real /dev/full
or a pipe whose read end is already closed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_scan_cli import child  # noqa: F401  (a process mapping a memfd, for scan)

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "configs" / "oracle-sga-300g.yaml")
TWO_HOSTS = (ROOT / "configs" / "oracle-sga-300g.yaml").read_text() + "---\n" + \
    (ROOT / "configs" / "postgres-shared-buffers.yaml").read_text()

CASES = {
    # name: (arguments, standard input)
    "estimate-table": (["estimate", SEED], None),
    "estimate-json": (["estimate", SEED, "-f", "json"], None),
    "estimate-markdown": (["estimate", SEED, "-f", "markdown"], None),
    "estimate-hosts-table": (["estimate", "-"], TWO_HOSTS),
    "estimate-hosts-json": (["estimate", "-", "-f", "json"], TWO_HOSTS),
    "estimate-hosts-markdown": (["estimate", "-", "-f", "markdown"], TWO_HOSTS),
    "explain-table": (["explain", SEED], None),
    "explain-json": (["explain", SEED, "-f", "json"], None),
    "explain-markdown": (["explain", SEED, "-f", "markdown"], None),
    "sweep-table": (["sweep", SEED, "--processes", "100:2000"], None),
    "sweep-csv": (["sweep", SEED, "--processes", "100:2000", "-f", "csv"], None),
    "sweep-json": (["sweep", SEED, "--processes", "100:2000", "-f", "json"], None),
    "check-text": (["check", SEED], None),
    "check-json": (["check", SEED, "-f", "json"], None),
    "schema": (["schema"], None),
}


def _run(args, stdin_text, stdout_fd):
    env = dict(os.environ)
    env.pop("PTCALC_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ptcalc", *args], input=stdin_text, stdout=stdout_fd,
                          stderr=subprocess.PIPE, text=True, timeout=300, env=env, cwd=ROOT)


def _closed_pipe():
    r, w = os.pipe()
    os.close(r)
    return w


@pytest.mark.parametrize("name", sorted(CASES))
def test_full_disk_is_one_line_and_status_74(name):
    args, stdin_text = CASES[name]
    with open("/dev/full", "w") as full:
        p = _run(args, stdin_text, full)
    assert p.returncode == 74, (p.returncode, p.stderr)
    assert p.stderr.splitlines()[-1] == "ptcalc: cannot write standard output: No space left on device"
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr and "Exception ignored" not in p.stderr


def _closed_pipe_run(args, stdin_text):
    w = _closed_pipe()
    try:
        return _run(args, stdin_text, w)
    finally:
        os.close(w)


@pytest.mark.parametrize("name", sorted(CASES))
def test_closed_pipe_ends_quietly_with_the_commands_own_status(name):
    args, stdin_text = CASES[name]
    p = _closed_pipe_run(args, stdin_text)
    quiet = _run(args, stdin_text, subprocess.DEVNULL)
    assert p.returncode == quiet.returncode == (1 if name.startswith("check") else 0)  # the seed fails check
    assert p.stderr == quiet.stderr  # nothing about the pipe


def test_a_pipe_closed_mid_way_keeps_the_status_too():
    """``| head -1`` on output larger than the pipe's buffer: the reader leaves mid-way."""
    for command, status in ((f"sweep {SEED} --processes 1:20000:1 -f csv", 0),
                            (f"check {SEED} {SEED} {SEED} -f json", 1)):
        p = subprocess.run(f"{sys.executable} -m ptcalc {command} | head -c 100; "
                           'echo "status ${PIPESTATUS[0]}" >&2', shell=True, executable="/bin/bash",
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert len(p.stdout) == 100
        assert p.stderr.splitlines()[-1] == f"status {status}", p.stderr


def _unwritable(tmp_path):
    """A path no one can create: its parent is a regular file (ENOTDIR; root
    may write any file, so a read-only mode would not do)."""
    parent = tmp_path / "not-a-directory"
    parent.write_text("")
    return str(parent / "out")


def test_junit_file_that_cannot_be_written(tmp_path):
    target = _unwritable(tmp_path)
    p = _run(["check", SEED, "--junit", target], None, subprocess.DEVNULL)
    assert p.returncode == 74
    assert p.stderr.splitlines()[-1] == f"ptcalc: cannot write --junit {target}: Not a directory"
    p = _run(["check", SEED, "--junit", "/dev/full"], None, subprocess.DEVNULL)
    assert p.returncode == 74
    assert p.stderr.splitlines()[-1] == "ptcalc: cannot write --junit /dev/full: No space left on device"


def test_junit_file_read_only_for_a_user(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes read-only files; the ENOTDIR case covers root")
    target = tmp_path / "junit.xml"
    target.write_text("")
    target.chmod(0o444)
    p = _run(["check", SEED, "--junit", str(target)], None, subprocess.DEVNULL)
    assert p.returncode == 74
    assert p.stderr.splitlines()[-1] == f"ptcalc: cannot write --junit {target}: Permission denied"


# -- scan and measure: they need a process to scan, or root and the kernel ----------------------


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_scan_outputs(child, tmp_path):
    args = ["scan", "--pid", str(child)]
    with open("/dev/full", "w") as full:
        p = _run(args, None, full)
    assert p.returncode == 74 and p.stderr.splitlines()[-1] == \
        "ptcalc: cannot write standard output: No space left on device"
    p = _closed_pipe_run(args, None)
    assert p.returncode == 0 and "Broken pipe" not in p.stderr
    for target, reason in ((_unwritable(tmp_path), "Not a directory"), ("/dev/full", "No space left on device")):
        p = _run([*args, "-o", target], None, subprocess.DEVNULL)
        assert p.returncode == 74
        assert p.stderr.splitlines()[-1] == f"ptcalc: cannot write -o {target}: {reason}"


@pytest.mark.kernel
@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_measure_outputs(fmt, tmp_path):
    from test_measure import _kernel_skip

    _kernel_skip()
    work = tmp_path / "tiny.yaml"
    work.write_text("host: {memory: 8GiB}\nsegments:\n  s: {size: 4MiB}\n"
                    "processes:\n  - {count: 1, mappings: [{segment: s, touch: 4KiB}]}\n")
    args = ["measure", str(work), "-f", fmt]
    with open("/dev/full", "w") as full:
        p = _run(args, None, full)
    assert p.returncode == 74, p.stderr
    assert p.stderr.splitlines()[-1] == "ptcalc: cannot write standard output: No space left on device"
    p = _closed_pipe_run(args, None)
    assert p.returncode in (0, 1), p.stderr  # its verdict (model = kernel, or not: other processes run)
    assert "Broken pipe" not in p.stderr and "Traceback" not in p.stderr
