"""How close the copy's meaning is to what it should be about, with the multilingual sentence
encoder the knowledge base already loads (Universal Sentence Encoder v3, numpy): the cosine of
the copy to the product's names and facts, the offer terms and the journey's words. Copy that
shares a word with the product but is about a cafe, a blog or word salad stays far from all."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _encode(texts: list[str]) -> np.ndarray:
    from app.kb.embedding import encoder

    vectors = encoder().encode(texts)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


@lru_cache(maxsize=4096)  # per text: a product's facts, an offer, a journey; few, asked on every variant
def _anchor_vector(anchor: str) -> np.ndarray:
    return _encode([anchor])[0]


@lru_cache(maxsize=4096)
def _text_vector(text: str) -> np.ndarray:
    return _encode([text])[0]


def closeness(text: str, anchors: tuple[str, ...]) -> float:
    """The highest cosine similarity of `text` to any of `anchors` (-1..1)."""
    anchors = tuple(a for a in anchors if a.strip())
    if not anchors or not text.strip():
        return 0.0
    # Each anchor on its own: a product's facts are encoded once, whatever offer and journey they
    # come with (their combinations outnumber any cache of sets).
    return float(max(_anchor_vector(a) @ _text_vector(text) for a in anchors))


def clear_text_cache() -> None:
    """Forget copy vectors (a benchmark that checks the same copy again must pay for each)."""
    _text_vector.cache_clear()


def warm_up() -> None:
    closeness("warm up", ("warm up",))
