"""End to end: estimate's JSON for a generated workload (the benchmark's
shape, scaled down) is the same whichever path computes it -- the fast YAML
reader or libyaml, numpy or the pure-Python array backend."""

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ptcalc.model import xp
from ptcalc.workload import fastyaml
from ptcalc.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import workloads  # noqa: E402


def estimate(text, *args):
    r = CliRunner().invoke(main, ["estimate", "-", "--format", "json", *args], input=text)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("args", [(), ("--mshare-variant", "ptshare")])
def test_every_path_gives_the_same_estimate(monkeypatch, args):
    text = workloads.big(groups=30, per_group=20)  # 600 mappings: numpy by default
    fast = estimate(text, *args)
    assert len(fast["cells"]) >= 8 and fast["host"]["groups"] == 30
    with monkeypatch.context() as m:
        m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)  # libyaml
        m.setattr(xp, "SMALL", 0)  # numpy for every array
        assert estimate(text, *args) == fast
    with monkeypatch.context() as m:
        m.setattr(xp, "SMALL", 10**9)  # pure Python for every array
        assert estimate(text, *args) == fast


def test_instances_and_several_documents_give_the_same_estimate_on_every_path(monkeypatch):
    # the consolidated config (instances, 124 groups) and a second host after ---
    root = Path(__file__).resolve().parent.parent / "configs"
    text = (root / "consolidated-oracle-asm-postgres.yaml").read_text() + "---\n" + workloads.big(groups=5, per_group=8)
    assert fastyaml.parse_documents(text) is not None  # the fast reader takes it
    fast = estimate(text)
    assert [len(h["cells"][0]["page_tables"]["groups"]) for h in fast["hosts"]] == [124, 5]
    with monkeypatch.context() as m:
        m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)  # libyaml
        m.setattr(xp, "SMALL", 0)  # numpy for every array
        assert estimate(text) == fast
    with monkeypatch.context() as m:
        m.setattr(xp, "SMALL", 10**9)  # pure Python for every array
        assert estimate(text) == fast
