"""``check --junit FILE``: JUnit XML, one testcase per file x scheme x condition.

The layout Jenkins, GitLab (``artifacts:reports:junit``) and GitHub test
reporters read: ``<testsuites><testsuite><testcase classname name>`` with a
``<failure>`` for a failed condition and an ``<error>`` for a file that could
not be read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from collections.abc import Sequence

from ptcalc.model.check import CheckRun, FileResult
from ptcalc.names import printable
from ptcalc.render.check_words import message, where


def build(files: Sequence[FileResult]) -> ET.ElementTree:
    cases: list[ET.Element] = []
    failures = errors = 0
    for f in files:
        if f.error is not None:
            error = printable(f.error)  # XML 1.0 has no escape for control characters
            tc = ET.Element("testcase", classname=printable(f.name), name="load workload", time="0")
            ET.SubElement(tc, "error", message=error, type="invalid-input").text = error
            cases.append(tc)
            errors += 1
            continue
        for c in f.checks:
            for cond in c.conditions:
                tc = ET.Element("testcase", classname=printable(f.name), name=f"{where(c)}: {cond.name}",
                                time="0")
                text = printable(message(c, cond))
                if cond.passed:
                    ET.SubElement(tc, "system-out").text = text
                else:
                    ET.SubElement(tc, "failure", message=text, type=cond.name).text = text
                    failures += 1
                cases.append(tc)
    attrs = {"name": "ptcalc check", "tests": str(len(cases)), "failures": str(failures),
             "errors": str(errors), "skipped": "0", "time": "0"}
    root = ET.Element("testsuites", {k: attrs[k] for k in ("name", "tests", "failures", "errors", "time")})
    suite = ET.SubElement(root, "testsuite", attrs)
    suite.extend(cases)
    ET.indent(root)
    return ET.ElementTree(root)


def write(run: CheckRun, path: str) -> None:
    build(run.files).write(path, encoding="utf-8", xml_declaration=True)
