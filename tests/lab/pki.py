"""The lab's certificates, written once per lab run as PEM files every lab process reads.

- `lab-ca.pem`: the lab's "public" root, trusted by the probe and the helper via `[tls] ca_bundle`.
- `mitm-ca.pem`: the interception root, named like Kazakhstan's (METHODS §8); trusted only in the
  scenario that installs it.
- `rogue-ca.pem`: the captive portal's root, trusted by nobody.
- `site-<key>.pem` (chain + key) per site, `mitm-<key>.pem` (forged, same names) per site,
  `helper.pem`, `doh.pem` (its address and DOH_NAME) and `resolver.pem` (DoT) (IP-address
  certificates); `site-portal-valid.pem`: the captive portal's name under the lab's root.
"""

from __future__ import annotations

from pathlib import Path

import trustme

from .world import (
    DOH_ADDRESS,
    DOH_NAME,
    HELPER_ADDRESS,
    HOSTED,
    PORTAL_NAME,
    PUBLIC_RESOLVER,
    SITES_BY_KEY,
)


def _write(leaf: trustme.LeafCert, path: Path) -> None:
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    path.write_bytes(chain + leaf.private_key_pem.bytes())


def build(directory: Path) -> None:
    """Write the lab PKI into `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    lab = trustme.CA(organization_name="Lab Public Roots")
    mitm = trustme.CA(organization_name="Qaznet Trust Network")
    rogue = trustme.CA(organization_name="Hotspot Login")
    lab.cert_pem.write_to_path(str(directory / "lab-ca.pem"))
    mitm.cert_pem.write_to_path(str(directory / "mitm-ca.pem"))
    rogue.cert_pem.write_to_path(str(directory / "rogue-ca.pem"))
    for site in (*HOSTED, SITES_BY_KEY["blockpage"]):
        _write(lab.issue_cert(*site.names), directory / f"site-{site.key}.pem")
        # The forged leaf copies the genuine names, as the 2019 Kazakh interception did.
        _write(mitm.issue_cert(*site.names), directory / f"mitm-{site.key}.pem")
    _write(rogue.issue_cert(PORTAL_NAME), directory / "site-portal.pem")
    _write(lab.issue_cert(PORTAL_NAME), directory / "site-portal-valid.pem")
    _write(lab.issue_cert(HELPER_ADDRESS), directory / "helper.pem")
    _write(lab.issue_cert(DOH_ADDRESS, DOH_NAME), directory / "doh.pem")
    _write(lab.issue_cert(PUBLIC_RESOLVER), directory / "resolver.pem")
