"""Record the outputs tests/test_golden.py compares: ``python tests/golden/record.py``.

Every output's SHA-256 goes to digests.json; outputs below FULL_LIMIT bytes
are kept whole in out/ as well, so that a difference shows as a diff.
"""

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import HERE, OUT, cases, extract_doc_examples, run_case  # noqa: E402

FULL_LIMIT = 64 * 1024

if __name__ == "__main__":
    if "--keep-inputs" not in sys.argv:
        extract_doc_examples()
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.txt"):
        old.unlink()
    digests = {}
    for name, argv in cases():
        text = run_case(argv)
        digests[name] = hashlib.sha256(text.encode()).hexdigest()
        if len(text.encode()) < FULL_LIMIT:
            (OUT / f"{name}.txt").write_text(text)
    (HERE / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(digests)} outputs ({len(list(OUT.glob('*.txt')))} in full) in {HERE}")
