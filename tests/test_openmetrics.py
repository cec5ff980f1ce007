"""``--format openmetrics`` for Prometheus (docs/prometheus.md), tested with the real tools:
Debian's ``promtool`` (package prometheus) checks the output and the alerting
rules, and ``prometheus-node-exporter`` serves what the textfile collector
reads over HTTP.  Every value read back is compared with ``--format json``
for the same cell (whose figures other tests derive by hand).  Each test
skips with the reason when its tool is absent (``.ci/run`` installs them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from clihelp import CONFIGS, POSTGRES, ROOT, SEED, KVM, run, write

FILES = sorted(str(p) for p in CONFIGS.glob("*.yaml"))
CONTRIB = ROOT / "contrib" / "prometheus"
RULES = CONTRIB / "ptcalc-alerts.yml"
VERDICTS = ("ok", "tight", "oom", "wont-start")

PROMTOOL = shutil.which("promtool")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
need_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package "
                                   "prometheus; .ci/run installs it)")
need_node_exporter = pytest.mark.skipif(NODE_EXPORTER is None, reason="node_exporter is not installed "
                                        "(Debian package prometheus-node-exporter; .ci/run installs it)")


def metrics(*args) -> str:
    r = run(*args, "--format", "openmetrics")
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def promtool_check_metrics(text: str) -> None:
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), p.stdout + p.stderr


# --- the text format, parsed here independently of prometheus_client -----------------------

_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Samples of a Prometheus/OpenMetrics text exposition: {(name, labels): value}."""
    out: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$", line)
        assert m, line
        labels = {}
        body = m.group(3) or ""
        pos = 0
        while pos < len(body):
            lm = _LABEL.match(body, pos)
            assert lm, (line, body[pos:])
            labels[lm.group(1)] = re.sub(r"\\[\\\"n]", lambda e: _UNESCAPE[e.group(0)], lm.group(2))
            pos = lm.end()
        key = (m.group(1), frozenset(labels.items()))
        assert key not in out, f"duplicate series {line}"
        out[key] = float(m.group(4))
    return out


def series(samples, name: str, **labels) -> list[float]:
    want = set(labels.items())
    return [v for (n, ls), v in samples.items() if n == name and want <= ls]


def one(samples, name: str, **labels) -> float:
    found = series(samples, name, **labels)
    assert len(found) == 1, (name, labels, found)
    return found[0]


def expected_from_json(doc: dict) -> dict[tuple[str, frozenset], float]:
    """What every series must read, taken from ``estimate --format json`` (one document)."""
    source, workload = doc["source"], doc["workload"]
    who = {"workload": workload, "source": source}
    out: dict[tuple[str, frozenset], float] = {}

    def put(name, value, **labels):
        out[(name, frozenset({**who, **labels}.items()))] = float(value)

    put("ptcalc_processes", doc["host"]["processes"])
    if doc["host"]["available_bytes"] is not None:
        put("ptcalc_memory_available_bytes", doc["host"]["available_bytes"])
    for c in doc["cells"]:
        cell = {"scheme": c["scheme"], "column": c["column"], "configured": str(c["configured"]).lower()}
        put("ptcalc_page_tables_bytes", c["page_tables"]["physical_bytes"], view="physical", **cell)
        put("ptcalc_page_tables_bytes", c["page_tables"]["vmpte_total_bytes"], view="vmpte", **cell)
        put("ptcalc_memory_demand_bytes", c["memory"]["demand_bytes"], **cell)
        if c["memory"]["available_bytes"] is not None:
            put("ptcalc_headroom_bytes", c["memory"]["available_bytes"] - c["memory"]["demand_bytes"], **cell)
        if c["max_processes"] is not None:
            put("ptcalc_max_processes", c["max_processes"], **cell)
        if c["verdict"] is not None:
            for v in VERDICTS:
                put("ptcalc_verdict", 1 if v == c["verdict"] else 0, verdict=v, **cell)
    return out


def json_docs(path: str) -> list[dict]:
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    return doc.get("hosts", [doc])


def assert_same(samples, docs) -> None:
    """Every series of the JSON documents, with its value, and no ptcalc series besides."""
    want: dict = {}
    for d in docs:
        want.update(expected_from_json(d))
    got = {}
    for (name, labels), v in samples.items():
        if name.startswith("ptcalc_"):
            rest = dict(labels)
            assert rest.pop("host") == socket.gethostname()
            got[(name, frozenset(rest.items()))] = v
    assert set(got) == set(want), (set(got) ^ set(want))
    assert got == want


# --- the output itself ------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_estimate_matches_json(path):
    """Parsed here (not by prometheus_client): every cell's figures, as JSON has them."""
    text = metrics("estimate", path)
    assert text.endswith("# EOF\n")
    assert_same(parse(text), json_docs(path))


def test_hosts_of_one_file_stay_apart(tmp_path):
    """Two documents with the same name: ``source`` (FILE#N) keeps their series apart."""
    body = open(SEED).read()
    path = write(tmp_path, "two.yaml", body + "\n---\n" + body.replace("count: 1500", "count: 150"))
    samples = parse(metrics("estimate", path))
    assert_same(samples, json_docs(path))
    assert one(samples, "ptcalc_processes", source=f"{path}#1") == 1500
    assert one(samples, "ptcalc_processes", source=f"{path}#2") == 150


def test_no_host_memory_no_verdict(tmp_path):
    path = write(tmp_path, "w.yaml", """\
        segments: {s: {size: 1GiB, backing: shmem}}
        processes: [{name: p, count: 3, mappings: [{segment: s}]}]
    """)
    samples = parse(metrics("estimate", path))
    assert_same(samples, json_docs(path))
    assert not series(samples, "ptcalc_verdict") and not series(samples, "ptcalc_max_processes")


# (a newline or other control character in a name is refused by the loader:
# names are data, tests/corpus; quotes and backslashes are what labels escape)
NASTY = 'db "primary" \\ north'


def nasty_workload(tmp_path) -> str:
    text = open(POSTGRES).read()
    text = re.sub(r"(?m)^name: .*$", lambda _: "name: " + json.dumps(NASTY), text)
    return write(tmp_path, "nasty.yaml", text)


def test_label_values_are_escaped(tmp_path):
    path = nasty_workload(tmp_path)
    text = metrics("estimate", path)
    assert 'workload="db \\"primary\\" \\\\ north"' in text
    samples = parse(text)
    assert one(samples, "ptcalc_processes") == 1109
    assert {dict(ls)["workload"] for _, ls in samples} == {NASTY}


def test_check_metrics(tmp_path):
    bad = write(tmp_path, "bad.yaml", "host: {memory: 1GiB}\n")
    r = run("check", *FILES, bad, "--scheme", "hugetlb-pmd", "--scheme", "mshare", "--min-headroom", "10%",
            "--format", "openmetrics")
    assert r.exit_code == 2  # as in every other format: an invalid file wins
    samples = parse(r.stdout)
    checked = run("check", *FILES, bad, "--scheme", "hugetlb-pmd", "--scheme", "mshare", "--min-headroom", "10%",
                  "--format", "json")
    doc = json.loads(checked.stdout)
    for f in doc["files"]:
        source = f["file"] if f["document"] is None else f"{f['file']}#{f['document']}"
        for s in ("pass", "fail", "error"):
            assert one(samples, "ptcalc_check_status", source=source, status=s) == (s == f["status"])
        for c in f["checks"]:
            cell = dict(source=source, scheme=c["scheme"], column=c["column"])
            assert one(samples, "ptcalc_check_passed", **cell) == c["passed"]
            for k in c["conditions"]:
                assert one(samples, "ptcalc_check_condition_passed", condition=k["name"], **cell) == k["passed"]
            assert one(samples, "ptcalc_page_tables_bytes", view="physical", **cell) == c["page_table_bytes"]
            assert one(samples, "ptcalc_headroom_bytes", **cell) == c["free_bytes"]
            assert one(samples, "ptcalc_verdict", verdict=c["verdict"], **cell) == 1
    assert one(samples, "ptcalc_check_status", source=bad, status="error") == 1


@need_promtool
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_promtool_accepts_estimate(path):
    promtool_check_metrics(metrics("estimate", path))


@need_promtool
def test_promtool_accepts_check_and_escaped_names(tmp_path):
    promtool_check_metrics(metrics("check", *FILES, "--scheme", "private", "--scheme", "hugetlb-pmd"))
    promtool_check_metrics(metrics("estimate", nasty_workload(tmp_path)))


def test_other_formats_do_not_import_prometheus_client():
    code = ("import sys\nfrom ptcalc.cli import main\n"
            "for fmt in ('table', 'json', 'markdown'):\n"
            "    try:\n        main(['estimate', sys.argv[1], '-f', fmt])\n    except SystemExit:\n        pass\n"
            "print('prometheus_client' in sys.modules, file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", code, SEED], capture_output=True, text=True, timeout=120)
    assert p.stderr.strip().splitlines()[-1] == "False", p.stderr


# --- node_exporter's textfile collector ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(directory: Path) -> str:
    """Start node_exporter with only the textfile collector on ``directory``, on a
    loopback port, and return what /metrics serves."""
    for _ in range(5):
        port = free_port()
        p = subprocess.Popen([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                              f"--collector.textfile.directory={directory}",
                              f"--web.listen-address=127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and p.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                        return resp.read().decode()
                except OSError:
                    time.sleep(0.1)
        finally:
            p.terminate()
            try:
                _, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
        if "address already in use" not in (err or ""):
            break
    pytest.fail(f"node_exporter did not serve /metrics: {err}")


def write_atomically(directory: Path, name: str, text: str) -> None:
    tmp = directory / f".{name}.tmp"
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, directory / name)


@need_node_exporter
def test_node_exporter_serves_every_config(tmp_path):
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    docs = []
    for path in FILES:
        write_atomically(textfiles, Path(path).stem + ".prom", metrics("estimate", path))
        docs += json_docs(path)
    write_atomically(textfiles, "nasty.prom", metrics("estimate", nasty_workload(tmp_path)))
    docs += json_docs(nasty_workload(tmp_path))
    samples = parse(scrape(textfiles))
    assert one(samples, "node_textfile_scrape_error") == 0
    assert len(series(samples, "node_textfile_mtime_seconds")) == len(FILES) + 1
    assert_same(samples, docs)


def recipe_script() -> str:
    return (CONTRIB / "ptcalc-textfile").read_text()


@need_node_exporter
@pytest.mark.skipif(sys.platform != "linux", reason="scans /proc")
def test_the_documented_recipe(tmp_path):
    """docs/prometheus.md's script, as shipped: it scans the host (here: at least a
    process of ours mapping a memfd; every process when root), publishes the scan
    and the planned workloads atomically, and node_exporter serves them."""
    textfiles, state, plan = tmp_path / "textfile", tmp_path / "state", tmp_path / "plan"
    textfiles.mkdir()
    plan.mkdir()
    shutil.copy(POSTGRES, plan / "postgres.yaml")
    (textfiles / "ptcalc-old.prom.tmp").write_text("not read: not *.prom")
    fd = os.memfd_create("ptcalc-recipe-test", 0)
    os.ftruncate(fd, 8 << 20)
    spec = [dict(fd=fd, address=0x200000000000, offset=0, size=8 << 20, prot="rw", nohuge=True, touch=[0])]
    child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "scan_child.py"), json.dumps(spec)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=(fd,))
    try:
        assert "error" not in json.loads(child.stdout.readline() or '{"error": 1}')
        env = dict(os.environ, TEXTFILE_DIR=str(textfiles), STATE_DIR=str(state), PLAN_DIR=str(plan),
                   PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        p = subprocess.run(["sh", str(CONTRIB / "ptcalc-textfile")], env=env, capture_output=True, text=True,
                           timeout=300)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        os.close(fd)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in textfiles.iterdir()) == ["ptcalc-old.prom.tmp", "ptcalc-postgres.prom",
                                                         "ptcalc-scan.prom"]
    scanned = state / "scan.yaml"
    assert yaml.safe_load(scanned.read_text())["name"] == f"scan of {socket.gethostname()}"
    samples = parse(scrape(textfiles))
    assert_same(samples, json_docs(str(scanned)) + json_docs(str(plan / "postgres.yaml")))


# --- the alerting rules -------------------------------------------------------------------------


def test_contrib_files_are_the_documented_ones():
    """docs/prometheus.md shows each file of contrib/prometheus/ in a block naming it."""
    text = (ROOT / "docs" / "prometheus.md").read_text()
    blocks = dict(re.findall(r"(?ms)^```\w+ (contrib/prometheus/\S+)\n(.*?)^```", text))
    assert sorted(blocks) == sorted(f"contrib/prometheus/{f.name}" for f in CONTRIB.iterdir())
    for name, body in blocks.items():
        assert body == (ROOT / name).read_text(), name


@need_promtool
def test_promtool_accepts_the_rules():
    p = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: 4 rules found" in p.stdout


def _annotations(rule: dict, labels: dict, value: float) -> dict:
    def fill(template: str) -> str:
        template = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
        return template.replace("{{ $value }}", f"{value:g}")
    return {k: fill(v) for k, v in rule["annotations"].items()}


@need_promtool
def test_rules_fire_on_ptcalc_series(tmp_path):
    """``promtool test rules`` on the series ptcalc writes for three configs: the
    PostgreSQL config is tight, the seed OOMs, the KVM host is ok; the seed's and
    PostgreSQL's maximum process counts (341 and 1,217 under hugetlb-pmd) stand in
    for a scan against the rule's 1,110; one textfile is 4 hours old, one fresh."""
    rules = {r["alert"]: r for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    input_series: list[dict] = []
    expected: dict[str, list[dict]] = {name: [] for name in rules}

    def add(name: str, labels: dict, values: str) -> None:
        sel = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
        input_series.append({"series": f"{name}{{{sel}}}", "values": values})

    def expect(alert: str, labels: dict, value: float) -> None:
        full = {**labels, **rules[alert]["labels"]}
        expected[alert].append({"exp_labels": full, "exp_annotations": _annotations(rules[alert], full, value)})

    scan_source = "/var/lib/ptcalc/scan.yaml"
    for path in (POSTGRES, SEED, KVM):
        for (name, labels), v in parse(metrics("estimate", path)).items():
            ls = dict(labels)
            if name not in ("ptcalc_verdict", "ptcalc_max_processes"):
                continue
            add(name, ls, f"{int(v)}+0x60")
            mainline = ls["scheme"] == "hugetlb-pmd" and ls["configured"] == "true"
            if name == "ptcalc_verdict" and v == 1 and mainline and ls["verdict"] != "ok":
                expect("PtcalcPageTablesExceedHeadroom" if ls["verdict"] == "tight" else "PtcalcPageTablesWouldOOM",
                       ls, v)
            if name == "ptcalc_max_processes" and mainline and path != KVM:
                scan = {**ls, "source": scan_source}
                add(name, scan, f"{int(v)}+0x60")
                if v < 1110:
                    expect("PtcalcFewerProcessesFitThanConfigured", scan, v)
    old = {"file": "/var/lib/prometheus/node-exporter/ptcalc-scan.prom", "instance": "db7:9100", "job": "node"}
    add("node_textfile_mtime_seconds", old, "0+0x60")
    add("node_textfile_mtime_seconds", {**old, "file": old["file"].replace("scan", "postgres")}, "0+300x60")
    expect("PtcalcMetricsStale", old, 0)
    assert [len(expected[a]) for a in rules] == [1, 1, 1, 1]
    assert [e["exp_labels"]["workload"] for a in list(rules)[:3] for e in expected[a]] == [
        "PostgreSQL, 64 GiB shared_buffers, 1100 backends", "Oracle SGA, 1500 dedicated servers",
        "Oracle SGA, 1500 dedicated servers"]
    tests = {"rule_files": [str(RULES)], "evaluation_interval": "1m",
             "tests": [{"interval": "5m", "input_series": input_series,
                        "alert_rule_test": [{"eval_time": "4h", "alertname": name, "exp_alerts": exp}
                                            for name, exp in expected.items()]
                        # "for: 1h": nothing fires before an hour
                        + [{"eval_time": "30m", "alertname": name, "exp_alerts": []}
                           for name in list(rules)[:3]]}]}
    f = tmp_path / "tests.yml"
    f.write_text(yaml.safe_dump(tests))
    p = subprocess.run([PROMTOOL, "test", "rules", str(f)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
