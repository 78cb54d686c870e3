"""probe: a censorship measurement probe.

Only the version lives here so that `import probe` stays cheap (the CLI's start-up depends on it).
"""

__version__ = "0.1.0"
