"""The command line: one module per command family; no logic lives here.

Modules:
    app     the typer root; registers commands; main() catches ProbeError once
    check   `probe check`
    daemon  `probe daemon` and `probe run`
    helper  `probe helper`
    init    `probe init`: config, key pair, privacy notice and consent
    store   `probe results` (and `results show ID`) and `probe status`
    ship    `probe upload`, `probe bundle export|inspect`
    collector  `probe collector` (serve, export, ingest)
    report  `probe report`: incidents, outages, platforms down and claims over a period
    classify  `probe classify`: our verdict for OONI web_connectivity measurements
    render  rich tables and JSON Lines output (pure renderers)
    tables  renderers of the store: the results list, one result whole, the jobs table
    explain  `probe check --explain`: each decision's rules in the order applied (pure)
    common  the convention every command shares: -h, times, file checks, exit codes, "wrote"
    geoip   `probe geoip update`: the free ASN database that names the probe's network
"""

__all__: list[str] = []
