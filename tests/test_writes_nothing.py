"""ptcalc writes nothing unless asked to (issue 5): no state files, caches,
logs or temporary files; only the file a user names (`check --junit FILE`,
`scan -o FILE`) appears."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "configs" / "oracle-sga-300g.yaml"

RUNS = [
    ["estimate", "w.yaml"],
    ["estimate", "w.yaml", "-f", "json"],
    ["estimate", "w.yaml", "-f", "markdown"],
    ["check", "w.yaml"],
    ["check", "w.yaml", "-f", "json"],
    ["sweep", "w.yaml", "--processes", "100:5000:100"],
    ["sweep", "w.yaml", "--processes", "100:5000:100", "-f", "csv"],
    ["explain", "w.yaml"],
    ["explain", "w.yaml", "-f", "markdown"],
    ["estimate", "missing.yaml"],  # an error path
    ["estimate", "bad.yaml"],
]


def _tree(*roots: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root in roots:
        for p in root.rglob("*"):
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def sandbox(tmp_path):
    work, home, tmp = tmp_path / "work", tmp_path / "home", tmp_path / "tmp"
    for d in (work, home, tmp):
        d.mkdir()
    shutil.copy(CONFIG, work / "w.yaml")
    (work / "bad.yaml").write_text("host: {memory: 1GiB}\nsegments: [\n")
    env = dict(os.environ, HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_CONFIG_HOME=str(home / ".config"), PYTHONDONTWRITEBYTECODE="1")
    return work, home, tmp, env


@pytest.mark.parametrize("args", RUNS, ids=[" ".join(a) for a in RUNS])
def test_commands_write_nothing(sandbox, args):
    work, home, tmp, env = sandbox
    before = _tree(work, home, tmp)
    p = subprocess.run([sys.executable, "-m", "ptcalc", *args], cwd=work, env=env, capture_output=True, text=True)
    assert p.returncode in (0, 1, 2), p.stderr
    assert "Traceback" not in p.stderr
    assert _tree(work, home, tmp) == before


def test_junit_writes_only_the_named_file(sandbox):
    work, home, tmp, env = sandbox
    before = _tree(work, home, tmp)
    p = subprocess.run([sys.executable, "-m", "ptcalc", "check", "w.yaml", "--junit", "out.xml"], cwd=work, env=env,
                       capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr
    after = _tree(work, home, tmp)
    assert set(after) - set(before) == {str(work / "out.xml")}
    assert {k: v for k, v in after.items() if k in before} == before
