"""The command line: one module per command family; no logic lives here.

Modules:
    app     the typer root; registers commands; main() catches ProbeError once
    check   `probe check`
    helper  `probe helper`
    render  rich tables and JSON Lines output (pure renderers)
"""

__all__: list[str] = []
