"""The shipped configs/*.yaml through check, sweep and explain: every format,
and the three commands agree with estimate."""

import json

import pytest

from clihelp import CONFIGS, run

from ptcalc.model.tables import SCHEMES

FILES = sorted(str(p) for p in CONFIGS.glob("*.yaml"))


def estimate(path):
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    return doc, {c["scheme"]: c for c in doc["cells"] if c["configured"]}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_check_agrees_with_estimate(path):
    _, cells = estimate(path)
    args = [a for s in SCHEMES for a in ("--scheme", s)]
    r = run("check", path, *args, "--require", "tight", "--format", "json")
    doc = json.loads(r.stdout)
    verdicts = {c["scheme"]: c["verdict"] for c in doc["files"][0]["checks"]}
    assert verdicts == {s: cells[s]["verdict"] for s in SCHEMES}
    failing = any(v in ("oom", "wont-start") for v in verdicts.values())
    assert r.exit_code == (1 if failing else 0)
    for c in doc["files"][0]["checks"]:
        assert c["page_table_bytes"] == cells[c["scheme"]]["page_tables"]["physical_bytes"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_sweep_crossing_agrees_with_estimate(path):
    est, cells = estimate(path)
    for fmt in ("table", "csv", "json"):
        r = run("sweep", path, "--processes", "1:40000", "--format", fmt)
        assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    for s in SCHEMES:
        first = doc["schemes"][s]["first_not_fitting"]
        if est["host"]["groups"] == 1:
            assert first == cells[s]["max_processes"] + 1
        else:  # counts rounded per group: within a few processes of the fractional figure
            assert abs(first - (cells[s]["max_processes"] + 1)) <= est["host"]["groups"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_explain_totals_agree_with_estimate(path, scheme):
    _, cells = estimate(path)
    r = run("explain", path, "--scheme", scheme, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["totals"]["total"] == cells[scheme]["page_tables"]["tables"]
    assert doc["totals"]["physical_bytes"] == cells[scheme]["page_tables"]["physical_bytes"]
    for fmt in ("table", "markdown"):
        assert run("explain", path, "--scheme", scheme, "--format", fmt).exit_code == 0
