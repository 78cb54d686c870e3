"""The parts of a run that `probe/runner.py` wires together (private to the runner).

Each module owns one piece of a run's shared state and asks decide/ and measure/ for the rest;
none decides a verdict. `probe/runner.py` reads top to bottom: measure, decide, follow up,
decide again, record.

Modules:
    controls    Controls: the control sites before the targets and after failing ones (the
                sandwich), the helpers' reachability, and the run's outage watch
    throughput  ThroughputRun: the run's throughput tests, planned by decide/followup.py,
                shared per object and within the run's byte budget
    packets     PacketRun: a blocked target's packet tests, planned by decide/followup.py, one
                target at a time; the silent hosts and the run's control traces
    location    Location: the probe's own network from the helpers' echoes and the ASN
                database; scrub() of the probe's addresses
"""
