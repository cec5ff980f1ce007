"""``private``: no sharing at all (docs/semantics.md section 2).

Every process owns every table it needs: what architectures without hugetlb
PMD sharing do (arm64 with 64 KiB pages: no ARCH_WANT_HUGE_PMD_SHARE), and
what 4 KiB shmem gets on every mainline kernel.  The baseline every other
scheme is compared with.
"""

from __future__ import annotations

from ptcalc.model.layout import Array, Layout
from ptcalc.model.schemes.common import Why, Zones, codes
from ptcalc.workload.types import ModelOptions


def zones(layout: Layout, options: ModelOptions) -> Zones:
    """Every mapping is one private zone."""
    a, e = layout.row_addr, layout.row_end

    def why() -> tuple[Array, Array]:
        return codes(layout, Why.PRIVATE_SCHEME), codes(layout, Why.PRIVATE_SCHEME)

    return Zones(scheme="private", upper="pmd", cols=(a, e, e, e, e, e),
                 pte_key_class=layout.xp.zeros(layout.n_rows, dtype=layout.xp.int64), attached_pte=False, why=why)
