"""The brute-force reference simulator: every process's page tables, page
by page (``walk``).  The one place in ptcalc that walks pages; the model is
tested against it."""
