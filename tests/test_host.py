"""What the running machine is (paging profile, memory, PTI, pools): on fake
trees, and -- marked ``kernel`` -- on this machine."""

from __future__ import annotations

import os
import sys

import pytest
from fake_tree import GiB, KiB, MiB, FakeTree

from ptcalc.linux.host import high_va_possible, read_host, running_arch
from ptcalc.linux.procfs import ProcFS
from ptcalc.model.geometry import ARM64_4K, X86_64, X86_64_LA57


def _fs(tmp_path, **machine):
    return ProcFS(*FakeTree(tmp_path).machine(**machine).roots)


def test_arch_from_cpu_flags_and_the_probe(tmp_path):
    four = _fs(tmp_path / "a", cpu_flags="fpu pse")
    five = _fs(tmp_path / "b", cpu_flags="fpu la57 pse")
    assert running_arch(four, high_va=lambda: True) is X86_64  # no la57: the probe is not asked
    assert running_arch(five, high_va=lambda: True) is X86_64_LA57
    assert running_arch(five, high_va=lambda: False) is X86_64  # la57 CPU, 4-level kernel
    assert running_arch(_fs(tmp_path / "c", arch="aarch64"), high_va=lambda: True) is None


def test_host_memory_pti_and_pools(tmp_path):
    h = read_host(_fs(tmp_path / "a", meltdown="Mitigation: PTI\n", pools={2 * MiB: 600, GiB: 0}), X86_64)
    assert (h.memory, h.arch, h.pti, h.hugepages) == (24634652 * KiB, X86_64, True, {2 * MiB: 600, GiB: 0})
    # pools the profile has no use for are left out; none at all is None
    h = read_host(_fs(tmp_path / "b", pools={64 * KiB: 3, 32 * MiB: 1}), X86_64)
    assert (h.pti, h.hugepages) == (False, None)
    assert read_host(_fs(tmp_path / "c", pools={64 * KiB: 3}), ARM64_4K).hugepages == {64 * KiB: 3}


@pytest.mark.kernel
@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64", reason="x86-64 Linux")
def test_this_machine():
    fs = ProcFS()
    arch = running_arch(fs)
    assert arch in (X86_64, X86_64_LA57)
    # 5-level paging only where the kernel can hand out addresses above 128 TiB
    assert (arch is X86_64_LA57) == ("la57" in fs.cpu_flags() and high_va_possible())
    h = read_host(fs, arch)
    assert h.memory == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for size, n in (h.hugepages or {}).items():
        with open(f"/sys/kernel/mm/hugepages/hugepages-{size // KiB}kB/nr_hugepages") as f:
            assert n == int(f.read())
