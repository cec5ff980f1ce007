"""The workload format: its types (``types``), reading YAML into them
(``loader``, with ``yamlnodes`` and ``fastyaml``), instances (``instances``),
touched ranges (``touched``) and writing a workload back as YAML (``writer``).

The types are re-exported here; the loader is imported where it is used
(it is the only part that may import PyYAML).
"""

from ptcalc.workload.types import (BACKINGS, CODED_FIELDS, DEFAULT_FILE_CACHED_THRESHOLD,  # noqa: F401
                                   DEFAULT_PROCESS_OVERHEAD, MAPPING_FIELDS, MSHARE_VARIANTS, PROTECTIONS,
                                   USERFAULTFD_MODES, Backing, Host, Mapping, ModelOptions, ProcessGroup,
                                   Protection, Segment, Userfaultfd, Workload, auto_address, place_addresses,
                                   place_side_by_side, resolve_addresses)
