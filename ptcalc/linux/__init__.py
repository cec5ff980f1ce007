"""The Linux side: reading /proc and /sys (``procfs``), syscalls and live
readings (``kernel``), building a workload from running processes (``scan``),
and reproducing a workload on the running kernel (``reproduce``,
``measure``)."""
