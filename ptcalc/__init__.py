"""ptcalc: page-table memory for shared-memory workloads, under each sharing scheme."""

__version__ = "0.1.0"
