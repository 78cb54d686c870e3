"""`probe check`: measure targets now and print a verdict for each."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer


def _overrides(
    helpers: list[str] | None,
    resolvers: list[str] | None,
    ca_bundle: Path | None,
    throughput: bool | None = None,
    packets: bool | None = None,
) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if throughput is not None:  # asked for: arbitrary URLs' pages too (issue 19)
        overrides["throughput"] = {"enabled": throughput, "pages": throughput}
    if packets is not None:
        overrides["packets"] = {"enabled": packets}
    if helpers:
        overrides["control"] = {"helpers": helpers}
    if resolvers:
        overrides["resolver"] = {"servers": resolvers}
    if ca_bundle is not None:
        overrides["tls"] = {"ca_bundle": ca_bundle}
    return overrides


def check(
    targets: list[str] | None = typer.Argument(
        None,
        help="Platform names (twitter, whatsapp…), domains or http(s) URLs.",
        show_default=False,
        metavar="TARGET...",
    ),
    input_file: Path | None = typer.Option(
        None,
        "--input-file",
        "-f",
        metavar="FILE",
        help="One target per line, or a Citizen Lab test-list CSV.",
    ),
    json_output: bool = typer.Option(
        False,
        "--json",
        help="Print JSON Lines: one TargetResult object per target (its `rules` included).",
    ),
    explain: bool = typer.Option(
        False,
        "--explain",
        help="After the table, print each target's decision: the rules applied in order, every"
        " reason, and each endpoint's (--json always carries the rules).",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="PROBE_CONFIG",
        metavar="FILE",
        help="TOML configuration file (default: the one `probe init` wrote, if any).",
    ),
    helper: list[str] | None = typer.Option(
        None,
        "--helper",
        metavar="URL",
        help="Test helper URL (repeatable); replaces [control] helpers.",
    ),
    resolver: list[str] | None = typer.Option(
        None,
        "--resolver",
        metavar="RESOLVER",
        help="Resolver to measure (repeatable); replaces [resolver] servers.",
    ),
    ca_bundle: Path | None = typer.Option(
        None,
        "--ca-bundle",
        metavar="FILE",
        help="Extra trusted roots (PEM); replaces [tls] ca_bundle.",
    ),
    throughput: bool | None = typer.Option(
        None,
        "--throughput/--no-throughput",
        help="Run the throttling test (large downloads) for every target that loads, arbitrary"
        " URLs included (default: catalogue platforms' objects only); replaces [throughput]"
        " enabled and pages.",
        show_default=False,
    ),
    packets: bool | None = typer.Option(
        None,
        "--packets/--no-packets",
        help="Capture packet evidence (IP TTL/IP-ID, censor hop) for blocked targets; needs root"
        " or CAP_NET_RAW; replaces [packets] enabled.",
        show_default=False,
    ),
) -> None:
    """Measure targets over DNS, TCP, TLS and HTTP, compare with controls, and give a verdict.

    Exit status is 0 whenever the measurement ran, whatever the verdicts; 2 for a usage or
    configuration error (an invalid target is reported and the others are still measured).
    """
    from probe.lean import collect_from_here, collect_later, may_end_at_once

    collect_later()  # no garbage collection among the imports (issue 19: 30–45 ms)
    try:
        import asyncio

        from probe.cli import render
        from probe.config import load_settings
        from probe.errors import TargetError
        from probe.paths import default_config_path
        from probe.runner import check_targets
        from probe.targets import load_catalogue, parse_targets, read_input_file
    finally:
        collect_from_here()
    if config is None and (installed := default_config_path()).exists():
        config = installed  # the config `probe init` wrote (its helpers, resolvers, CA)
    settings = load_settings(config, _overrides(helper, resolver, ca_bundle, throughput, packets))
    inputs = list(targets or [])
    if input_file is not None:
        inputs += read_input_file(input_file)
    if not inputs:
        raise TargetError("no targets: give platform names, domains or URLs, or --input-file")
    parsed = parse_targets(inputs, load_catalogue())
    errors = [p for p in parsed if isinstance(p, TargetError)]
    for error in errors:
        sys.stderr.write(f"probe: error: {error}\n")
    valid = [p for p in parsed if not isinstance(p, TargetError)]
    if not valid:
        raise typer.Exit(2)
    if json_output:
        results = asyncio.run(check_targets(valid, settings, on_result=render.print_json_line))
    else:
        with render.progress(len(valid)) as shown:
            run = check_targets(
                valid, settings, on_result=shown, on_status=shown.waiting,
                imports=render.TABLE_IMPORTS,
            )  # fmt: skip
            results = asyncio.run(run)
        render.print_table(results)
        if explain:
            from rich.console import Console

            from probe.cli.explain import explanation

            Console().print(explanation(results))
    may_end_at_once()  # every result is printed: no interpreter teardown (issue 19)
    if errors:
        raise typer.Exit(2)
