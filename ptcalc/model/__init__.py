"""The page-table model.  ``evaluate`` is the entry point every command uses
(``ptcalc.model.evaluate.evaluate``); below it: geometry (``geometry``), a
workload as arrays (``layout``), the array backend (``xp``), interval
arithmetic (``intervals``), one module per sharing scheme (``schemes``), the
closed-form table count (``tables``), budgets and the verdict rule
(``budget``), what-if page sizes (``whatif``), CI gates (``check``), sweeps
(``sweep``) and attribution and fixes (``explain``).  docs/architecture.md
draws the layers.

Nothing here prints or words a sentence; ``ptcalc.render`` turns results into
text.  This package imports nothing on its own, so that
``ptcalc.model.geometry`` is cheap to import from the workload types.
"""
