"""Reads knowledge/ into snippets: one product fact, review or FAQ answer each, with a stable ID."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from app.content import LOCALES, read_yaml


@dataclass(frozen=True)
class Snippet:
    id: str
    text: str
    kind: str  # fact | review | faq
    locale: str
    sku: str = ""
    category: str = ""
    topic: str = ""
    rating: int = 0
    date: str = ""
    order: int = 0
    flags: tuple[str, ...] = field(default_factory=tuple)
    title: str = ""  # the product's name in this locale, on facts

    @property
    def content_hash(self) -> str:
        parts = (self.kind, self.locale, self.sku, self.topic, self.rating, self.date, self.order, self.title)
        meta = "|".join(map(str, parts))
        return hashlib.sha256(f"{meta}\n{self.text}".encode()).hexdigest()[:16]

    def metadata(self) -> dict[str, str | int]:
        return {
            "kind": self.kind,
            "locale": self.locale,
            "sku": self.sku,
            "category": self.category,
            "topic": self.topic,
            "rating": self.rating,
            "date": self.date,
            "order": self.order,
            "flags": ",".join(self.flags),
            "title": self.title,
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_record(cls, id: str, text: str, meta: dict) -> Snippet:  # noqa: A002
        return cls(
            id=id,
            text=text,
            kind=str(meta.get("kind", "")),
            locale=str(meta.get("locale", "")),
            sku=str(meta.get("sku", "")),
            category=str(meta.get("category", "")),
            topic=str(meta.get("topic", "")),
            rating=int(meta.get("rating", 0) or 0),
            date=str(meta.get("date", "")),
            order=int(meta.get("order", 0) or 0),
            flags=tuple(f for f in str(meta.get("flags", "")).split(",") if f),
            title=str(meta.get("title", "")),
        )


def _fact_id(sku: str, locale: str, text: str) -> str:
    """Stable while the fact's text is; an edited fact is a new snippet and the old one goes."""
    return f"F-{sku}-{locale}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def load_snippets(knowledge_dir: Path) -> list[Snippet]:
    snippets: list[Snippet] = []
    categories: dict[str, str] = {}
    for path in sorted((knowledge_dir / "products").glob("*.yaml")):
        raw = read_yaml(path)
        sku, category = raw["sku"], raw.get("category", "")
        categories[sku] = category
        for locale in LOCALES:
            for i, text in enumerate(raw.get("facts", {}).get(locale, [])):
                name = raw.get("name", {}).get(locale, "")
                fid = _fact_id(sku, locale, text)
                snippets.append(Snippet(fid, text, "fact", locale, sku, category, order=i, title=name))
    for path in sorted((knowledge_dir / "reviews").glob("*.yaml")):
        raw = read_yaml(path)
        sku = raw["sku"]
        seen: set[str] = set()
        for r in raw.get("reviews", []):
            text = " ".join(str(r["text"]).split())
            if text in seen:  # identical reviews add nothing and confuse filtered vector search
                continue
            seen.add(text)
            snippets.append(
                Snippet(
                    id=r["id"], text=text, kind="review", locale=r["locale"], sku=sku,
                    category=categories.get(sku, ""), topic=r.get("topic", ""),
                    rating=int(r.get("rating", 0)), date=str(r.get("date", "")),
                    flags=tuple(r.get("flags", ())),
                )
            )  # fmt: skip
    faq = knowledge_dir / "faq.yaml"
    if faq.exists():
        for item in read_yaml(faq).get("faq", []):
            for locale in LOCALES:
                if item.get(locale):
                    snippets.append(
                        Snippet(
                            f"{item['id']}-{locale}", item[locale], "faq", locale, topic=item.get("topic", "")
                        )
                    )
    ids = [s.id for s in snippets]
    if len(ids) != len(set(ids)):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate snippet IDs in knowledge/: {dupes[:5]}")
    return snippets
