"""Renderers: one module per output format, each taking report data and
returning text or printing to a rich Console.  Nothing here computes."""
