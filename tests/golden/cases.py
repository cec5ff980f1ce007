"""The command lines whose output the restructure (issue 12) must keep
byte-identical, and how to run one.

Every shipped config and every complete workload example in README.md and
docs/ goes through estimate, explain, sweep and check in every format; every
file of the hostile corpus through estimate (its located error).  ``record.py``
writes the outputs; ``tests/test_golden.py`` compares.  This is a temporary
net for a refactor, not a test of figures: figures are tested against hand
derivations, the simulator and the kernel elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
OUT = HERE / "out"

SCHEMES = ("private", "hugetlb-pmd", "mshare", "file-cached")
TABLE = ("--color", "never", "--width", "100")


def doc_examples() -> list[Path]:
    """The complete workload examples of README.md and docs/*.md, as files under inputs/."""
    return sorted(INPUTS.glob("*.yaml"))


def extract_doc_examples() -> None:
    """Write every ```yaml block of the docs that is a whole workload to inputs/."""
    INPUTS.mkdir(exist_ok=True)
    for old in INPUTS.glob("*.yaml"):
        old.unlink()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
        for i, text in enumerate(blocks):
            if re.search(r"^(processes|instances):", text, re.M):
                (INPUTS / f"{doc.stem}-{i}.yaml").write_text(text)


def cases() -> list[tuple[str, list[str]]]:
    """(name, argv) of every recorded command line; paths relative to ROOT."""
    out: list[tuple[str, list[str]]] = []
    workloads = sorted((ROOT / "configs").glob("*.yaml")) + doc_examples()
    for p in workloads:
        rel = str(p.relative_to(ROOT))
        stem = p.stem
        out += [
            (f"{stem}.estimate.table", ["estimate", rel, *TABLE]),
            (f"{stem}.estimate.ascii80", ["estimate", rel, "--ascii", "--color", "never", "--width", "80"]),
            (f"{stem}.estimate.json", ["estimate", rel, "--format", "json"]),
            (f"{stem}.estimate.markdown", ["estimate", rel, "--format", "markdown"]),
        ]
        multi = "---" in p.read_text()
        if multi:
            out.append((f"{stem}.check.json", ["check", rel, "--format", "json"]))
            continue
        for s in SCHEMES:
            out += [
                (f"{stem}.explain.{s}.table", ["explain", rel, "--scheme", s, *TABLE]),
                (f"{stem}.explain.{s}.json", ["explain", rel, "--scheme", s, "--format", "json"]),
                (f"{stem}.explain.{s}.markdown", ["explain", rel, "--scheme", s, "--format", "markdown"]),
            ]
        out += [
            (f"{stem}.explain.2MiB.table", ["explain", rel, "--page-size", "2MiB", *TABLE]),
            (f"{stem}.sweep.table", ["sweep", rel, "--processes", "1:40000", *TABLE]),
            (f"{stem}.sweep.csv", ["sweep", rel, "--processes", "1:40000", "--format", "csv"]),
            (f"{stem}.sweep.json", ["sweep", rel, "--processes", "1:40000", "--format", "json"]),
            (f"{stem}.check.text", ["check", rel, *[a for s in SCHEMES for a in ("--scheme", s)],
                                    "--require", "tight", "--max-page-tables", "5%", "--min-headroom", "10GiB"]),
            (f"{stem}.check.json", ["check", rel, *[a for s in SCHEMES for a in ("--scheme", s)],
                                    "--format", "json", "--page-size", "2MiB"]),
        ]
    seed = "configs/oracle-sga-300g.yaml"
    out += [
        ("seed.sweep.size.table", ["sweep", seed, "--size", "100GiB:1TiB", *TABLE]),
        ("seed.sweep.size.json", ["sweep", seed, "--size", "100GiB:1TiB", "--format", "json"]),
        ("seed.sweep.group", ["sweep", seed, "--processes", "100:2000:100", "--group", "dedicated servers", *TABLE]),
        ("seed.sweep.default-width", ["sweep", seed, "--processes", "1:40000"]),
        ("seed.estimate.default-width", ["estimate", seed]),
        ("seed.estimate.ptshare", ["estimate", seed, "--mshare-variant", "ptshare", "--format", "json"]),
        ("seed.estimate.threshold", ["estimate", seed, "--file-cached-threshold", "1TiB", *TABLE]),
        ("seed.estimate.headroom", ["estimate", seed, "--headroom", "50", "-s", "mshare", *TABLE]),
        ("seed.check.all-configs", ["check", *sorted(f"configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml"))]),
    ]
    for p in sorted((ROOT / "tests" / "corpus").glob("*.yaml")):
        out.append((f"corpus.{p.stem}", ["estimate", str(p.relative_to(ROOT)), "--format", "json"]))
    return out


def run_case(argv: list[str]) -> str:
    """The command's exit code, stdout and stderr, as one text."""
    import os

    from ptcalc.cli import main

    here = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(main, argv, catch_exceptions=False, env={"COLUMNS": "120"})
    finally:
        os.chdir(here)
    return f"exit {r.exit_code}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
