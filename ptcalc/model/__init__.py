"""The page-table model: geometry (``geometry``), the array backend
(``xp``), the closed-form table count (``tables``), budgets and verdicts
(``budget``), what-if page sizes (``whatif``), the comparison (``report``),
CI gates (``check``), sweeps (``sweep``) and attribution (``explain``).

Nothing here prints; ``ptcalc.render`` turns results into text.  This
package imports nothing on its own, so that ``ptcalc.model.geometry`` is
cheap to import from the workload types.
"""
