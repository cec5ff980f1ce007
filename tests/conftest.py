"""Hypothesis profiles: "ci" (the default) and "dev" (quick).

"ci" runs about 2,750 generated workloads in total across
tests/test_model_properties.py (250 per invariant test, and 1,250 compared
with the simulator under all five scheme variants: 250 per architecture
profile); it is derandomized (the same examples on
every run, so CI is reproducible) and prints the blob that replays a
failure (@reproduce_failure).  Pick another with HYPOTHESIS_PROFILE=dev
(quick) or HYPOTHESIS_PROFILE=explore (long, random).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=250,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None, print_blob=True)
# A longer random search (new examples every run), for hunting rare disagreements.
settings.register_profile(
    "explore", max_examples=2500, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Output that is not a terminal is $COLUMNS wide (else 120): the tests compare
# text drawn at the default width, so a COLUMNS exported by the shell or the CI
# runner is not theirs to inherit (tests that need it pass it explicitly).
os.environ.pop("COLUMNS", None)


# --- one kernel experiment at a time on this machine -------------------------------------
# Kernel tests read machine-wide counters (PageTables) and size the global
# hugetlb pools: two test runs doing so at once (two checkouts, a benchmark,
# a developer's second terminal) disturb each other.  The first kernel test of
# a session takes an exclusive lock on KERNEL_LOCK and holds it to the end of
# the session; anything else that runs kernel experiments here takes the same
# lock (``flock /tmp/ptcalc-kernel.lock CMD``).  Other processes' noise is
# measure's own business (issue 16); this only keeps ptcalc's runs apart.

import fcntl

import pytest

KERNEL_LOCK = "/tmp/ptcalc-kernel.lock"
_held: list = []


@pytest.fixture(autouse=True)
def _kernel_lock(request):
    if request.node.get_closest_marker("kernel") is not None and not _held:
        f = open(KERNEL_LOCK, "a")
        fcntl.flock(f, fcntl.LOCK_EX)
        _held.append(f)
    yield


# --- a noisy neighbour beside kernel tests -----------------------------------------------
# ``noisy_neighbour`` runs tests/noisy_neighbour.py (allocates, frees, forks)
# beside the test that asks for it.  PTCALC_NOISY_NEIGHBOUR=1 runs it beside
# every kernel test of the session (``PTCALC_NOISY_NEIGHBOUR=1 pytest -m kernel``):
# the kernel tests must pass that way too (issue 16).

import noisy_neighbour as _neighbour  # noqa: E402


@pytest.fixture
def noisy_neighbour():
    p = _neighbour.start(seconds=600)
    yield p
    _neighbour.stop(p)


@pytest.fixture(scope="session")
def _session_neighbour():
    p = _neighbour.start(seconds=3600)
    yield p
    _neighbour.stop(p)


@pytest.fixture(autouse=True)
def _neighbour_for_kernel_tests(request, _kernel_lock):
    if request.node.get_closest_marker("kernel") is not None and os.environ.get("PTCALC_NOISY_NEIGHBOUR"):
        request.getfixturevalue("_session_neighbour")
    yield
