"""Running ptcalc through click's CliRunner, and small workload files."""

import textwrap
from pathlib import Path

from click.testing import CliRunner

from ptcalc.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
SEED = str(CONFIGS / "oracle-sga-300g.yaml")
POSTGRES = str(CONFIGS / "postgres-shared-buffers.yaml")
KVM = str(CONFIGS / "kvm-vhost-user.yaml")


# The seed's dedicated server's own mappings (configs/oracle-sga-300g.yaml),
# tables per process, by hand (x86-64: a PTE table covers 2 MiB, a PMD table
# 1 GiB, a PUD table 512 GiB):
# * oracle, 180 MiB at 0x555555554000 (0x154000 into its 2 MiB block): blocks
#   from 0x555555400000 to 0x555561400000 = 91 PTE tables;
# * PGA, 10 MiB right after it at 0x555560954000 (0x154000 into a block): 6
#   blocks, the first the oracle's last: 5 more;
# * libraries, 24 MiB auto: top-down below mmap_base 0x7ffff7fff000, at
#   0x7ffff67ff000 (0x1ff000 into a block): 13 blocks;
# * stack, 132 KiB below STACK_TOP 0x7ffffffff000: 1 block.
# PTE 91 + 5 + 13 + 1 = 110.  PMD: 0x555555554000-0x555561354000 lies in one
# 1 GiB block, the libraries and the stack in the top one (0x7fffc0000000):
# 2.  PUD: two 512 GiB blocks (0x5000_0000_0000.. and 0x7f80_0000_0000..): 2.
# The SGA, auto at 1 TiB, has its own PUD table (and PMD tables) apart.
SEED_PRIVATE = {"pte": 110, "pmd": 2, "pud": 2}
SEED_PRIVATE_TABLES = sum(SEED_PRIVATE.values())  # 114 tables = 456 KiB a process


def run(*args, input=None, env=None):
    """Invoke ``ptcalc ARGS``; stdout and stderr apart."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=False)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def one_segment(count, memory="10GiB", size="4GiB", backing="shmem", page="4KiB", address=None, extra_host="",
                private=None, reserved=None, mapping_extra="", default_layout=False):
    """A host, one segment, one group mapping all of it (touch 1.0); the
    processes have no private mappings (``private_mappings: []``: the page
    tables are the segment's alone, as the tests derive them) unless
    ``default_layout``."""
    addr = f"\n        address: {address}" if address is not None else ""
    priv = f"\n    private_memory: {private}" if private else ""
    own = "" if default_layout else "    private_mappings: []\n"
    res = f"\n  reserved: {reserved}" if reserved else ""
    return f"""\
name: test
host:
  memory: {memory}
  arch: x86_64
  process_overhead: 0{res}{extra_host}
segments:
  s:
    size: {size}
    backing: {backing}
    page_size: {page}
processes:
  - name: workers
    count: {count}{priv}
    mappings:
      - segment: s
        touch: 1.0{addr}{mapping_extra}
{own}"""


POSTGRES_1000 = """\
# configs/postgres-shared-buffers.yaml as it was with max_connections = 1000
# and before whole processes (no private mappings: the page tables are the
# shared memory's alone); the tests derive their numbers by hand from this copy.
name: PostgreSQL, 64 GiB shared_buffers, 1000 backends
host:
  memory: 256GiB
  arch: x86_64
  reserved: 4GiB
segments:
  shared_memory:
    size: 66GiB
    backing: shmem
    page_size: 4KiB
processes:
  - name: client backends
    count: 1000
    private_memory: 24MiB
    private_mappings: []
    mappings:
      - segment: shared_memory
        touch: 1.0
  - name: autovacuum workers
    count: 3
    private_memory: 64MiB
    private_mappings: []
    mappings:
      - segment: shared_memory
        touch: 1.0
  - name: background processes
    count: 6
    private_memory: 8MiB
    private_mappings: []
    mappings:
      - segment: shared_memory
        touch: 1.0
"""


def postgres_1000(tmp_path):
    return write(tmp_path, "postgres-1000.yaml", POSTGRES_1000)
