"""SIGINT, SIGTERM and SIGHUP turned into cleanup, then ``Interrupted``."""

from __future__ import annotations

import os
import signal

import pytest

from ptcalc.linux.signals import Interrupted, signals_as_exceptions, signals_deferred


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_signals_become_interrupted(sig, status):
    before = signal.getsignal(sig)
    with pytest.raises(Interrupted) as info:
        with signals_as_exceptions():
            os.kill(os.getpid(), sig)
            signal.sigtimedwait([], 0.5)  # give the handler a bytecode boundary
    assert info.value.exit_status == status
    assert signal.getsignal(sig) == before


def test_signals_deferred_until_cleanup_ends():
    order = []
    with pytest.raises(Interrupted):
        with signals_as_exceptions():
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                order.append("cleanup finished")
            order.append("not reached")
    assert order == ["cleanup finished"]


def test_interrupted_is_not_an_exception():
    # so no `except Exception` between the handler and the CLI swallows it
    assert not issubclass(Interrupted, Exception)
