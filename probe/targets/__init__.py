"""User input → `Target`: platform names, bare domains, URLs, input files and the catalogue.

Owns turning what the operator typed (command-line arguments, a file of targets, a Citizen Lab
test list) into validated `Target` records with their endpoints, and the platform catalogue
(`probe/data/platforms.toml`, symlinked as `configs/platforms.toml`). It never touches the
network and never resolves names: a host is only normalised (IDNA, IP literals) here.

Modules:
    hosts      host, URL and "host:port" normalisation (IDNA 2008 / UTS #46, IP literals)
    catalogue  Catalogue, load_catalogue(): the platform catalogue, checked on load
    parse      parse_target(), parse_targets(), read_input_file(): input → Target
"""

from probe.targets.catalogue import Catalogue, load_catalogue
from probe.targets.parse import InputLine, parse_target, parse_targets, read_input_file

__all__ = [
    "Catalogue",
    "InputLine",
    "load_catalogue",
    "parse_target",
    "parse_targets",
    "read_input_file",
]
