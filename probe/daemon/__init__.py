"""The daemon: runs the configured jobs on a schedule and stores every result.

Modules:
    jobs      load_jobs(): config jobs → targets (validated before anything is scheduled)
    budget    estimate_bytes(): a result's approximate traffic, for the daily data budget
    runner    JobRunner: one run of one job: disk and budget checks, measure, store
    service   Daemon: the schedule, signals (TERM, HUP), watchdog, state for `probe status`
    systemd   notify(): sd_notify without libsystemd
    metrics   the optional Prometheus endpoint
    logs      logfmt / JSON log lines on stdout
"""
