"""Issue 12's net: every command's output on every shipped config, docs
example and corpus file is byte-identical to what was recorded before the
restructure began (tests/golden/record.py).  Removed when the issue lands."""

import difflib
import hashlib
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))

from cases import HERE, OUT, cases, run_case  # noqa: E402

DIGESTS = json.loads((HERE / "digests.json").read_text())
CASES = cases()


def test_every_case_is_recorded():
    assert sorted(DIGESTS) == sorted(name for name, _ in CASES)


@pytest.mark.parametrize("name,argv", CASES, ids=[n for n, _ in CASES])
def test_output_unchanged(name, argv):
    text = run_case(argv)
    if hashlib.sha256(text.encode()).hexdigest() == DIGESTS[name]:
        return
    full = OUT / f"{name}.txt"
    if full.exists():
        diff = "".join(list(difflib.unified_diff(full.read_text().splitlines(True), text.splitlines(True),
                                                 "recorded", "now"))[:80])
    else:
        diff = text[:4000]
    pytest.fail(f"ptcalc {' '.join(argv)}: output changed\n{diff}")
