"""What outcomes count for: a context (journey, channel, locale, segment) and an arm (a string key:
`tone@prompt_version` for generated copy, or any other key such as a library entry's ID)."""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TYPES = ("sent", "delivered", "opened", "clicked", "converted", "unsubscribed", "complained")
HOLDOUT = "holdout"  # the arm key of the "send nothing" share
NO_SEGMENT = ""  # how a request without a segment is stored


@dataclass(frozen=True)
class Context:
    journey: str
    channel: str
    locale: str
    segment: str | None = None

    @property
    def key(self) -> str:
        return "/".join((self.journey, self.channel, self.locale, self.segment or "*"))

    @property
    def stored_segment(self) -> str:
        return self.segment or NO_SEGMENT

    def as_dict(self) -> dict[str, str | None]:
        return {
            "journey": self.journey,
            "channel": self.channel,
            "locale": self.locale,
            "segment": self.segment,
        }


def arm_key(tone: str, prompt_version: str) -> str:
    """The arm of generated copy: its tone under one version of the prompts."""
    return f"{tone}@{prompt_version}"


def family(arm: str) -> str:
    """What an arm shares with its kin across prompt versions (its tone); the key itself otherwise."""
    return arm.split("@", 1)[0]
