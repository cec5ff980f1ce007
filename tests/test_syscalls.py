"""The system calls measure makes: flag encodings checked against the uapi
headers and the C library, and -- on Linux -- the calls themselves."""

from __future__ import annotations

import errno
import mmap
import os
import sys

import pytest

from ptcalc.linux import syscalls
from ptcalc.linux.syscalls import (
    MADV_POPULATE_WRITE,
    PROT_READ,
    PROT_WRITE,
    madvise,
    memfd_flags,
    mmap_anonymous,
    mmap_fixed,
    munmap,
)

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


def test_memfd_size_flags_match_the_uapi_encoding():
    # include/uapi/linux/memfd.h: MFD_HUGE_2MB = 21 << 26, MFD_HUGE_1GB = 30 << 26
    assert memfd_flags(2 * MiB) == syscalls.MFD_CLOEXEC | syscalls.MFD_HUGETLB | (21 << 26)
    assert memfd_flags(GiB) == syscalls.MFD_CLOEXEC | syscalls.MFD_HUGETLB | (30 << 26)
    assert memfd_flags(None) == syscalls.MFD_CLOEXEC


@pytest.mark.skipif(not hasattr(os, "MFD_HUGE_2MB"), reason="os has no MFD_HUGE_* constants here")
def test_memfd_size_flags_match_the_c_library():
    assert memfd_flags(2 * MiB) & ~syscalls.MFD_CLOEXEC == os.MFD_HUGETLB | os.MFD_HUGE_2MB
    assert memfd_flags(GiB) & ~syscalls.MFD_CLOEXEC == os.MFD_HUGETLB | os.MFD_HUGE_1GB


def test_memfd_size_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        memfd_flags(3 * MiB)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux system calls")
def test_mmap_fixed_at_a_free_address_then_eexist():
    page = mmap.PAGESIZE
    probe = mmap_anonymous(0, 4 * page)  # somewhere free, then given back
    assert probe is not None and munmap(probe, 4 * page) == 0
    fd = os.memfd_create("ptcalc-test", 0)
    try:
        os.ftruncate(fd, 2 * page)
        assert mmap_fixed(probe, 2 * page, PROT_READ | PROT_WRITE, fd, 0) == 0
        try:
            assert madvise(probe, 2 * page, MADV_POPULATE_WRITE) in (0, errno.EINVAL)  # EINVAL before 5.14
            # MAP_FIXED_NOREPLACE: the address is taken now
            assert mmap_fixed(probe, page, PROT_READ, fd, 0) == errno.EEXIST
        finally:
            assert munmap(probe, 2 * page) == 0
    finally:
        os.close(fd)
