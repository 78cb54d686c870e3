"""The daemon: runs the configured jobs on a schedule and stores every result.

The supervisor (service, plan, systemd, metrics, logs) never imports pydantic or the measurement
code; each run happens in a worker process (worker, runner, jobs, budget).

Modules:
    service   Daemon: the schedule and the signals (SIGTERM, SIGHUP reload), the watchdog
    pool      WorkerPool: worker processes, one task per key; waits for them, then kills
    runs      JobRuns: a due job: disk check, its worker, its summary
    disk      DiskGuard: the disk-full pause, held rows, skipped jobs rerun on recovery
    state     the state `probe status` reads, the store gauges, Retention
    store_calls  StoreCalls: the supervisor's store calls, each off the event loop
    plan      DaemonPlan: what the supervisor knows of a validated config (plain data)
    worker    `python -m probe.daemon.worker validate|run|upload`: one process per task
    uploads   UploadLoop: an upload worker whenever the store says a pass is due
    geoip     refresh_loop(): `probe geoip update --auto` once a day (the ASN database, monthly)
    runner    JobRunner: one run of one job: disk and budget checks, measure, store
    jobs      load_jobs(): config jobs → targets (validated before anything is scheduled)
    budget    estimate_bytes(): a result's approximate traffic, for the daily data budget
    systemd   notify(): sd_notify without libsystemd
    metrics   the optional Prometheus endpoint
    logs      logfmt / JSON log lines
"""
