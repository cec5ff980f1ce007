"""The workload format: its types (``types``), the description of every key
(``keys``, from which ``schema`` makes a JSON Schema), reading YAML into the
types (``loader``: ``yamlnodes`` and ``fastyaml`` make the node graph,
``reader`` walks it with ``values``; ``placement`` places ``address: auto``
and ``instances`` names the copies of an instance), touched ranges
(``touched``) and writing a workload back as YAML (``writer``).

The types are re-exported here; the loader is imported where it is used
(it is the only part that may import PyYAML).
"""

from ptcalc.workload.types import (BACKINGS, DEFAULT_FILE_CACHED_THRESHOLD, DEFAULT_PROCESS_OVERHEAD,  # noqa: F401
                                   MAPPING_FIELDS, MSHARE_VARIANTS, PROTECTIONS, USERFAULTFD_MODES, Backing, Host,
                                   Mapping, Mappings, MappingSpec, ModelOptions, ProcessGroup, Protection, Segment,
                                   Userfaultfd, Workload, auto_address, place_addresses, place_side_by_side,
                                   resolve_addresses)
