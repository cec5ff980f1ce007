"""Every documented command runs, and prints what the docs say (issue 15).

The fenced ``sh`` blocks of README.md and docs/*.md that invoke ptcalc are
run, by this convention (README.md, "Development"):

* a ```` ```sh ```` block holds commands a reader can run from the
  repository root, on files the repository ships; a synopsis with
  placeholders (``WORKLOAD.yaml``) is a ```` ```text ```` block, and a file
  shown whole is ```` ```sh PATH ```` (tests/test_openmetrics.py checks those);
* ``$ COMMAND`` lines are commands, and the lines after one, up to the next
  ``$`` line or the end of the block, are its expected standard output: a
  line ``...`` stands for any number of lines (none too), and ``...`` inside
  a line for any text on that line; a block without ``$`` lines is one
  command per line, its output not shown;
* a command exits 0, unless its line ends with ``# exit N``;
* ``sudo`` commands, ``ptcalc measure`` and ``ptcalc scan`` need root and the
  kernel: they run as root (without ``sudo``; scan with a process of the
  test mapping shared memory, measure under the kernel lock) and skip with
  the reason otherwise;
* in ``A && B``, the parts that make the environment (``pip install``,
  ``python3 -m venv``, ``. .venv/bin/activate``, ``pytest``) are what
  ``.ci/run`` does; the rest runs here.

Commands run through ``sh`` in a temporary directory that links the
repository's configs/, docs/ and contrib/, so that files they write land
there, with this environment's ``ptcalc`` first on the PATH.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SETUP = re.compile(r"^(pip3? install|python3? -m venv|\. \S+/activate|pytest)\b")
ROOT_ONLY = re.compile(r"^(sudo\s|ptcalc (measure|scan)\b)")


@dataclass
class Command:
    line: str
    expected: list[str] | None = None
    """Expected standard output (None: not shown)."""
    status: int = 0


@dataclass
class Block:
    where: str
    commands: list[Command] = field(default_factory=list)

    @property
    def needs_root(self) -> bool:
        return any(ROOT_ONLY.match(part) for c in self.commands for part in parts(c.line))

    @property
    def measures(self) -> bool:
        return any("ptcalc measure" in c.line for c in self.commands)

    @property
    def scans(self) -> bool:
        return any("ptcalc scan" in c.line for c in self.commands)


def parts(line: str) -> list[str]:
    """The commands of ``A && B``, less environment set-up."""
    return [p.strip() for p in line.split("&&") if not SETUP.match(p.strip())]


def _command(line: str) -> Command:
    m = re.search(r"\s+#\s*exit\s+(\d+)\s*$", line)
    status = int(m.group(1)) if m else 0
    return Command(line=line[: m.start()] if m else line, status=status)


def blocks() -> list[Block]:
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"(?m)^```sh\n(.*?)^```", text, re.S):
            body = m.group(1).rstrip("\n").split("\n")
            if not any(re.match(r"(\$ )?(sudo )?ptcalc ", part) for line in body for part in line.split("&& ")):
                continue  # runs no ptcalc (the benchmarks, pip and pytest)
            where = f"{doc.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
            b = Block(where)
            if any(line.startswith("$ ") for line in body):
                assert body[0].startswith("$ "), f"{where}: output before the first $ line"
                for line in body:
                    if line.startswith("$ "):
                        b.commands.append(_command(line[2:]))
                        b.commands[-1].expected = []
                    else:
                        b.commands[-1].expected.append(line)
            else:
                joined = "\n".join(body).replace("\\\n", " ")
                b.commands = [_command(line) for line in joined.split("\n")
                              if line.strip() and not line.lstrip().startswith("#")]
            out.append(b)
    return out


BLOCKS = blocks()


def matches(expected: list[str], actual: str) -> bool:
    """``actual`` as ``expected`` says, ``...`` standing for what is left out."""
    while expected and not expected[-1].strip():
        expected = expected[:-1]
    pattern = []
    for line in expected:
        if line == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append("".join("[^\n]*?" if p == "..." else re.escape(p)
                                   for p in re.split(r"(\.\.\.)", line)) + r"\n")
    return re.fullmatch("".join(pattern), actual.rstrip("\n") + "\n") is not None


@pytest.fixture
def workdir(tmp_path):
    for name in ("configs", "docs", "contrib"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _shared_memory_process():
    """A process mapping a memfd (tests/scan_child.py), for ``ptcalc scan`` to find."""
    fd = os.memfd_create("ptcalc-docs-test", 0)
    os.ftruncate(fd, 8 << 20)
    spec = [dict(fd=fd, address=0x200000000000, offset=0, size=8 << 20, prot="rw", nohuge=True, touch=[0])]
    child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "scan_child.py"), json.dumps(spec)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=(fd,))
    assert "error" not in json.loads(child.stdout.readline() or '{"error": 1}')
    return child, fd


def run_block(b: Block, cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               NO_COLOR="1", COLUMNS="120")
    env.pop("FORCE_COLOR", None)
    for c in b.commands:
        for part in parts(c.line):
            part = re.sub(r"^sudo\s+", "", part)
            p = subprocess.run(["sh", "-c", part], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
            last = part == parts(c.line)[-1]
            want = c.status if last else 0
            assert p.returncode == want, (f"{b.where}: `{part}` exited {p.returncode}, the docs say {want}\n"
                                          f"{p.stderr}")
            if last and c.expected is not None and not matches(c.expected, p.stdout):
                diff = "\n".join(difflib.unified_diff(c.expected, p.stdout.splitlines(), "docs", "output",
                                                      lineterm=""))
                pytest.fail(f"{b.where}: `{part}` printed something else than the docs show:\n{diff}")


def _param(b: Block):
    marks = [pytest.mark.kernel] if b.measures else []
    return pytest.param(b, id=b.where, marks=marks)


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_documented_commands(block, workdir):
    if block.needs_root:
        if sys.platform != "linux" or os.geteuid() != 0:
            pytest.skip(f"{block.where}: needs root and the running kernel (ptcalc measure / scan)")
    if block.scans:
        child, fd = _shared_memory_process()
        try:
            run_block(block, workdir)
        finally:
            child.stdin.close()
            child.wait(timeout=30)
            os.close(fd)
    else:
        run_block(block, workdir)


def test_every_block_is_found():
    """The blocks the docs hold: a renamed info string must not drop one silently."""
    wheres = {b.where.split(":")[0] for b in BLOCKS}
    assert {"README.md", "docs/ci.md", "docs/prometheus.md", "docs/workload-format.md"} <= wheres
    assert sum(len(b.commands) for b in BLOCKS) >= 12
    for doc in DOCS:
        for m in re.finditer(r"(?m)^```(\w*)[^\n]*\n(.*?)^```", doc.read_text(), re.S):
            info, body = m.group(1), m.group(2)
            if info == "sh" and re.search(r"(?m)^(\$ )?(sudo )?ptcalc \w+ [A-Z]+\.yaml", body):
                pytest.fail(f"{doc.name}: a ```sh block with a placeholder: make it ```text\n{body}")


@pytest.mark.parametrize("expected, actual, ok", [
    (["a", "b"], "a\nb\n", True),
    (["a", "...", "d"], "a\nb\nc\nd\n", True),
    (["a", "...", "b"], "a\nb\n", True),
    (["x ... z"], "x y z\n", True),
    (["a", "b"], "a\nc\n", False),
    (["a"], "a\nb\n", False),
    (["a ... c"], "a b\nc\n", False),
])
def test_the_convention(expected, actual, ok):
    assert matches(expected, actual) == ok
