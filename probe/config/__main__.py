"""`python -m probe.config > docs/configuration.md`: the configuration reference."""

from probe.config.reference import render_reference

print(render_reference(), end="")
