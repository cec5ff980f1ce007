"""--color / NO_COLOR, --ascii, --width and '-' for stdin on check, sweep and explain."""

import json
import re

import pytest

from clihelp import SEED, one_segment, run

ANSI = re.compile(r"\x1b\[")

COMMANDS = [
    ["check"],
    ["sweep", "--processes", "1:3000"],
    ["explain"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_colour_forced_then_switched_off(cmd):
    forced = run(*cmd, SEED, env={"FORCE_COLOR": "1"})
    assert ANSI.search(forced.stdout), "the test needs FORCE_COLOR to colour, or it proves nothing"
    assert ANSI.search(run(*cmd, SEED, "--color", "always").stdout)
    for r in (run(*cmd, SEED, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}),
              run(*cmd, SEED, "--color", "never", env={"FORCE_COLOR": "1"}),
              run(*cmd, SEED)):
        assert not ANSI.search(r.stdout)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_ascii_is_pure_ascii(cmd):
    plain = run(*cmd, SEED)
    assert not plain.stdout.isascii() or cmd[0] == "check"  # rounded boxes and dashes by default
    r = run(*cmd, SEED, "--ascii", "--color", "always")
    assert r.stdout.encode().isascii() or ANSI.search(r.stdout)
    r = run(*cmd, SEED, "--ascii")
    assert r.stdout.isascii()


@pytest.mark.parametrize("cmd", COMMANDS[1:], ids=lambda c: c[0])
def test_width(cmd):
    r = run(*cmd, SEED, "--width", "80")
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_a_pipe_takes_its_width_from_columns():
    # not a terminal: $COLUMNS when it is a width --width accepts, else 120; --width wins
    def widest(*args, env):
        return max(len(line) for line in run("estimate", SEED, *args, env=env).stdout.splitlines())

    assert widest(env={"COLUMNS": "80"}) == 80
    assert widest("--width", "100", env={"COLUMNS": "80"}) == 100
    assert widest(env={"COLUMNS": "20"}) == widest(env={"COLUMNS": "eighty"}) == 120


def test_check_lines_do_not_wrap():
    r = run("check", SEED, "--width", "40")
    assert len(r.stdout.splitlines()) == 2  # one FAIL line and the summary, however long


@pytest.mark.parametrize("cmd, fmt", [(["check"], "json"), (["sweep", "--processes", "1:10"], "json"),
                                      (["explain"], "json")], ids=lambda c: c[0] if isinstance(c, list) else c)
def test_stdin(cmd, fmt):
    r = run(*cmd, "-", "--format", fmt, input=one_segment(10))
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_bad_stdin_is_one_located_line(cmd):
    r = run(*cmd, "-", input="host: [unclosed\n")
    assert r.exit_code == 2
    assert "<stdin>" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
