"""Links in copy: found, checked against guardrails/links.yaml, tagged with tracking parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.content import read_yaml

URL = re.compile(
    r"(?i)(?:https?://|www\.)[^\s，。！？、）)\]】>\"']+"
    r"|(?<![A-Za-z0-9@./-])(?:[a-z0-9-]+\.)+(?:com|cn|net|org|io|shop|top|xyz|co|cc|me|link)(?:/[^\s，。！？、）)\]】>\"']*)?"
)


@dataclass(frozen=True)
class LinkPolicy:
    allowed: frozenset[str]
    tracking: str

    @classmethod
    def load(cls, path: Path) -> LinkPolicy:
        raw = read_yaml(path)
        return cls(frozenset(d.lower() for d in raw["allowed_domains"]), raw.get("tracking", ""))

    def host(self, url: str) -> str:
        return (urlsplit(url if "://" in url else "http://" + url).hostname or "").lower()

    def is_allowed(self, url: str) -> bool:
        return self.host(url) in self.allowed

    def tag(self, text: str, channel: str, variant_id: str) -> str:
        """Append the tracking parameters to every allowed link."""
        if not self.tracking:
            return text
        params = self.tracking.format(channel=channel, variant_id=variant_id)

        def add(m: re.Match) -> str:
            url = m.group(0)
            if not self.is_allowed(url) or "utm_source=" in url:
                return url
            return url + ("&" if "?" in url else "?") + params

        return URL.sub(add, text)


def without_links(text: str) -> str:
    """The text with every link blanked out: the links check owns URLs, and a tracking ID's
    digits are not a card number or a price."""
    return URL.sub(lambda m: " " * len(m.group(0)), text)
