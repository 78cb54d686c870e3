"""report/: what happened on a network between two dates, from stored measurements.

The last stage: it reads what the store, bundles or a collector hold and never measures or
re-judges a measurement (the verdicts are decide/'s). Facts (one flat row per measurement) go
into an embedded SQL engine (DuckDB, or ClickHouse's chdb), portable queries find the windows,
and pure functions turn them into incidents, failure windows and claim findings.

Modules:
    facts     a stored record → one fact row (MeasurementFact)
    sources   the local store, bundle files and facts files → facts → an engine
    sql       the portable SQL and the thin dialect layer
    engines   DuckDB and ClickHouse (chdb), imported only when used
    windows   per-probe spans → incidents and failure windows, with confidence
    claims    claims files, and each claim's finding from the evidence in its window
    build     the report, from an engine's facts
    palette   the one palette: each verdict's, finding's and network state's colour (HTML)
              and style (terminal), used by every renderer
    formats   the shared formatters: UTC times, durations, method and verdict counts
    layout    the plots' period (the data's, never past now), columns and lanes
    svg       standalone SVG parts (patterns, axis, legend) drawn with attributes, no style
    cells     a timeline lane's cells drawn as SVG, each kept by what it shows (a live page
              made again builds only the cells that changed)
    plots     inline SVG: the timelines (timeline_svgs, timeline_panels) and the heat map
    html      the self-contained HTML page: scope, legend, plots and tables
    render    CSV and the terminal summary (and html_report, re-exported)
"""
