"""The Linux side: what ptcalc reads from, and does to, the running kernel.

    module       holds                                                   used by
    -----------  ------------------------------------------------------  ------------------
    procfs       ProcFS: the one reader of /proc and /sys (and writer    everything below
                 of sysfs tunables), rooted where you point it
    parsers      /proc and /sys text -> records (pure functions)        procfs
    errors       ProcessGone, NoAccess, KernelError                      everything below
    host         the running machine: paging profile (la57), memory,    scan, measure
                 PTI, hugetlb pools
    tunables     hugetlb pools and THP settings: read, raise, restore   measure, host
    syscalls     memfd_create, mmap, madvise, prctl (ctypes)            reproduce, host
    signals      SIGINT/SIGTERM/SIGHUP -> cleanup, then Interrupted     measure, reproduce
    readings     PageTables and every process's VmPTE: settled,         reproduce, calibrate
                 repeated, trusted or not (all of measure's noise logic)
    runstate     measure's state file; repair after SIGKILL              measure, cli.measure
    reproduce    fork the workload's processes, map, populate, read     measure, calibrate
    calibrate    which levels this kernel's PageTables counts           measure
    scale        ``--scale N``: a workload shrunk, sharing kept         measure
    measure      ``ptcalc measure``: plan, check, run, compare          cli.measure
    scan         ``ptcalc scan``: a workload from running processes     cli.scan
"""
