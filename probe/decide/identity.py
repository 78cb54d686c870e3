"""What shows a cleartext page is the target's, and what shows it is not: the summary the page
rules test (issue 17; built by decide/page.py, judged by rules.py through PageEvidence)."""

from __future__ import annotations

from dataclasses import dataclass

# Page identity thresholds (decide/page.py; docs/methodology.md "Page identity").
SAME_TEXT = 0.35  # estimated Jaccard of the visible text's shingles: the control's page
SAME_RESOURCES = 0.5  # estimated Jaccard of the referenced resources, with at least:
MIN_RESOURCES = 3


@dataclass(frozen=True)
class PageIdentity:
    """What shows a cleartext page is the target's (positive evidence), and what shows it is not.

    Positive: the control's body byte for byte (`same_body`), its visible text (`text_similarity`
    ≥ SAME_TEXT: the helper's `x_page` summary), its title (`title_agrees`), its resources
    (`resource_similarity`), a site-specific header with the control's very value
    (`site_headers`), the same non-HTML media type, or both bodies empty. Negative: a
    redirect to a host the control never visited (`foreign_redirects`: an IP literal, another
    registrable domain, a domain the fingerprints name), block-page phrases on a short page
    (`phrases`), a form asking for what the control's page does not (`new_forms`). Header names
    are never evidence: any two servers can send the same ones.
    """

    same_body: bool = False
    text_similarity: float | None = None
    resource_similarity: float | None = None
    title_agrees: bool | None = None
    site_headers: tuple[str, ...] = ()  # site-specific headers with the control's very value
    same_media_type: bool = False
    both_empty: bool = False
    has_summary: bool = False  # the control sent its page summary (our helper; OONI's does not)
    chain_known: bool = False  # the control said where its fetch went (our helper)
    control_final: str = ""
    foreign_redirects: tuple[str, ...] = ()
    unconfirmed_redirects: tuple[str, ...] = ()  # the same, the control's chain unknown
    suspect_redirects: tuple[str, ...] = ()  # IP literals and fingerprint domains among those
    phrases: tuple[str, ...] = ()
    new_forms: tuple[str, ...] = ()
    own_server: str = ""  # why the page is the site's own server's, when it is

    @property
    def same_text(self) -> bool:
        """Return whether the visible text is the control's (a near duplicate)."""
        return self.text_similarity is not None and self.text_similarity >= SAME_TEXT

    @property
    def same_resources(self) -> bool:
        """Return whether the page references the control's scripts, styles and images."""
        return self.resource_similarity is not None and self.resource_similarity >= SAME_RESOURCES

    @property
    def decisive_redirects(self) -> tuple[str, ...]:
        """Return the redirects the control never saw to an IP literal or to a host a fingerprint
        names: no site sends there. (One to another domain, say a country's own domain of the
        site, counts only when nothing shows the page is the site's.)"""
        return tuple(r for r in self.foreign_redirects if r in self.suspect_redirects)

    @property
    def not_target_signs(self) -> tuple[str, ...]:
        """Return the signs that the page is not the target's, whatever else it shows."""
        return (
            tuple(f"block-page phrase {p}" for p in self.phrases)
            + tuple(f"a redirect to {r}" for r in self.decisive_redirects)
            + tuple(f"a form asking for {f}" for f in self.new_forms)
        )

    def shown(self) -> str:
        """Return the positive evidence, as a clause ("" when there is none)."""
        found = []
        if self.same_body:
            found.append("the same body byte for byte")
        if self.same_text:
            found.append(f"visible text {self.text_similarity:.0%} alike")
        if self.title_agrees:
            found.append("the same title")
        if self.same_resources:
            found.append(f"resources {self.resource_similarity:.0%} alike")
        if self.site_headers:
            found.append(f"the site's own header {', '.join(self.site_headers[:2])}")
        if self.same_media_type:
            found.append("the same non-HTML media type")
        if self.both_empty:
            found.append("an empty body for both")
        return ", ".join(found)
