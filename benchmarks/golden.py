#!/usr/bin/env python3
"""Write ptcalc's outputs for a fixed set of commands into OUTDIR, one file per
command (stdout, then '== exit N'), so two trees can be compared byte for byte:

    python benchmarks/golden.py "$(command -v ptcalc)" OUTDIR [--quick]
    diff -r BEFORE_OUTDIR OUTDIR

Run from the repository root, once with the code before a change and once
after, into two directories.
Workloads: configs/*.yaml, benchmarks/postgres_handwritten.yaml (two
hosts) and /tmp/golden-wl/{distinct,big}.yaml (benchmarks/workloads.py).
--quick skips the 100,000-mapping workloads."""
import glob, os, subprocess, sys

exe, out = sys.argv[1], sys.argv[2]
quick = "--quick" in sys.argv
os.makedirs(out, exist_ok=True)
wl = "/tmp/golden-wl"
if not quick and not os.path.exists(f"{wl}/distinct.yaml"):
    os.makedirs(wl, exist_ok=True)
    sys.path.insert(0, "benchmarks")
    import workloads
    open(f"{wl}/distinct.yaml", "w").write(workloads.distinct())
    open(f"{wl}/big.yaml", "w").write(workloads.big())
small = sorted(glob.glob("configs/*.yaml")) + sorted(glob.glob("docs/examples/**/*.yaml", recursive=True))
cmds = []
for f in small:
    for fmt in ("table", "json", "markdown", "openmetrics"):
        cmds.append(["estimate", f, "-f", fmt, "--width", "100", "--color", "never"])
    cmds.append(["estimate", f, "--width", "60", "--color", "never"])
    for ps in ("configured", "4KiB", "2MiB", "1GiB"):
        for fmt in ("table", "json", "markdown"):
            cmds.append(["explain", f, "--page-size", ps, "-f", fmt, "--width", "100", "--color", "never"])
    cmds.append(["sweep", f, "--processes", "1:5000", "-f", "json"])
    cmds.append(["check", f, "-f", "json"])
# the shipped file of several hosts (YAML documents): estimate-hosts' renderers
for fmt in ("table", "json", "markdown", "openmetrics"):
    cmds.append(["estimate", "benchmarks/postgres_handwritten.yaml", "-f", fmt, "--width", "100", "--color", "never"])
if not quick:
    for f in (f"{wl}/distinct.yaml", f"{wl}/big.yaml"):
        for fmt in ("table", "json"):
            cmds.append(["estimate", f, "-f", fmt, "--width", "100", "--color", "never"])
    f = f"{wl}/distinct.yaml"
    for ps in ("configured", "2MiB"):
        for fmt in ("table", "json", "markdown"):
            cmds.append(["explain", f, "--page-size", ps, "-f", fmt, "--width", "100", "--color", "never"])
for c in cmds:
    name = "_".join(x.replace("/", "@") for x in c)[:200]
    p = subprocess.run([exe, *c], capture_output=True, text=True)
    with open(os.path.join(out, name), "w") as fh:
        fh.write(p.stdout + p.stderr + f"\n== exit {p.returncode}\n")
print(len(cmds), "outputs in", out)
