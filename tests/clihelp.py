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


def run(*args, input=None, env=None):
    """Invoke ``ptcalc ARGS``; stdout and stderr apart."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=False)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def one_segment(count, memory="10GiB", size="4GiB", backing="shmem", page="4KiB", address=None, extra_host="",
                private=None, reserved=None, mapping_extra=""):
    """A host, one segment, one group mapping all of it (touch 1.0)."""
    addr = f"\n        address: {address}" if address is not None else ""
    priv = f"\n    private_memory: {private}" if private else ""
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
"""


POSTGRES_1000 = """\
# configs/postgres-shared-buffers.yaml as it was with max_connections = 1000;
# the tests derive their numbers by hand from this copy.
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
    mappings:
      - segment: shared_memory
        touch: 1.0
  - name: autovacuum workers
    count: 3
    private_memory: 64MiB
    mappings:
      - segment: shared_memory
        touch: 1.0
  - name: background processes
    count: 6
    private_memory: 8MiB
    mappings:
      - segment: shared_memory
        touch: 1.0
"""


def postgres_1000(tmp_path):
    return write(tmp_path, "postgres-1000.yaml", POSTGRES_1000)
