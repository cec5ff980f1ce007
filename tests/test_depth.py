"""Nesting depth is bounded before any YAML parser sees the text (issue 16.1).

PyYAML up to 6.0.3 (libyaml 0.2.5) composes by recursion in C: 100,000 ``[``
end the process with SIGSEGV (exit 139).  ptcalc refuses any text nested
more than 1,000 deep, located where the limit is passed, whatever PyYAML is
installed -- ``.ci/run`` runs this module with the oldest allowed PyYAML too.

The depth scanner (ptcalc/workload/depth.py) is checked against libyaml's
event stream, which libyaml produces without recursion (safe on every
version): its count never stays below the depth the events reach, and on
text libyaml accepts it passes the limit exactly where the events do.
"""

import os
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptcalc.errors import WorkloadError
from ptcalc.workload import yamlnodes
from ptcalc.workload.depth import bound, too_deep
from ptcalc.workload.loader import loads_workload

DEEP = {
    # name: (text, 1-based line and column of the 1,001st level)
    "flow": ("[" * 100_000, (1, 1001)),
    "flow-in-value": ("name: " + "{a: " * 100_000, (1, 6 + 4 * 999 + 1)),
    "compact-sequences": ("- " * 100_000, (1, 2001)),
    "indented-mappings": ("".join(" " * i + "k:\n" for i in range(1500)), (1001, 1001)),
    "sequences-under-keys": ("".join(" " * i + "k:\n" + " " * i + "- \n" for i in range(0, 1500)), (1001, 501)),
    "after-a-comment-with-crlf": ("# note\r\n" + "[" * 100_000, (2, 1001)),
    "after-a-quoted-name": ("name: 'it''s [['\n" + "x: " + "[" * 100_000, (2, 4 + 999)),
}


def _events_depth(text: str, limit: int) -> tuple[int, tuple[int, int] | None, bool]:
    """(deepest level libyaml's events reach, where they first pass ``limit``,
    whether libyaml accepts the text)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = deepest = 0
    first = None
    try:
        for ev in yaml.parse(text, Loader=loader):
            if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                deepest = max(deepest, depth)
                if depth > limit and first is None:
                    first = (ev.start_mark.line + 1, ev.start_mark.column + 1)
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return deepest, first, False
    return deepest, first, True


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_text_is_refused_where_the_limit_is_passed(name, monkeypatch):
    text, where = DEEP[name]
    def no_parser(*args):
        raise AssertionError("a YAML parser saw the text")

    monkeypatch.setattr(yamlnodes, "_loader_class", no_parser)
    with pytest.raises(WorkloadError) as e:
        loads_workload(text, "deep.yaml")
    assert str(e.value) == (f"deep.yaml:{where[0]}:{where[1]}: YAML syntax error: "
                            "collections are nested more than 1000 levels deep")


def test_1000_levels_are_read_and_1001_are_not():
    assert too_deep("[" * 1000 + "]" * 1000, 1000) is None
    assert too_deep("[" * 1001 + "]" * 1001, 1000) == (1, 1001)
    with pytest.raises(WorkloadError, match="^x.yaml:1:7: name: expected a name, got a list$"):
        loads_workload("name: " + "[" * 999 + "]" * 999 + "\n", "x.yaml")


def test_brackets_in_quotes_comments_and_block_scalars_do_not_count():
    text = ("name: '" + "[" * 2000 + "'\n" + "# " + "{" * 2000 + "\n" + "note: |\n  " + "[" * 2000 + "\n"
            + 'other: "\\" ' + "[" * 2000 + '"\n')
    assert bound(text) is None  # quotes: the token-by-token scan decides
    assert too_deep(text, 1000) is None


@pytest.mark.parametrize("name", ["flow", "compact-sequences", "indented-mappings"])
def test_the_command_exits_2_with_a_located_message_never_a_signal(name, tmp_path):
    """In a subprocess: a crash in C would be a signal (returncode < 0), not exit 2."""
    text, where = DEEP[name]
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    env = dict(os.environ, PYTHONFAULTHANDLER="")
    r = subprocess.run([sys.executable, "-m", "ptcalc", "estimate", str(path)], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert r.stdout == ""
    assert r.stderr == (f"{path}:{where[0]}:{where[1]}: YAML syntax error: "
                        "collections are nested more than 1000 levels deep\n")


_TOKENS = st.sampled_from([
    "[", "]", "{", "}", ",", ": ", ":", "- ", "-", "? ", "'", '"', "#", " #", "&a ", "!t ", "*a", "a", "b c",
    "\n", "\n  ", "\n ", "  ", "|", ">", "|2", "\\", "''", '\\"', "---\n", "...\n", "\t", "k: ", "- - ",
    "%YAML 1.1\n", "\r", "\r\n", "\x85", "x#", " ''",
])


@settings(max_examples=int(os.environ.get("PTCALC_FUZZ_EXAMPLES", 1500)), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(_TOKENS, max_size=40), st.integers(1, 4))
def test_the_scan_never_counts_below_libyaml(parts, limit):
    text = "".join(parts)
    deepest, first, accepted = _events_depth(text, limit)
    quick = bound(text)
    assert quick is None or quick >= deepest
    found = too_deep(text, limit)
    if deepest > limit:
        assert found is not None
    if accepted:
        assert found == first
