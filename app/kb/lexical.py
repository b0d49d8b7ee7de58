"""BM25 over the snippets (bm25s), with jieba splitting Chinese: catches exact terms (SKU codes,
materials, sizes) that dense retrieval blurs."""

from __future__ import annotations

import logging
import re

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)
_TOKEN = re.compile(r"[\w\u3400-\u9fff]+")
_HAN = re.compile(r"[\u3400-\u9fff]+")
_SUFFIXES = ("ing", "ed", "es", "s")


def _stem(word: str) -> str:
    """Light English suffix stripping: fits/fit, sized/size, washes/wash."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class Tokenizer:
    """jieba words, plus Chinese character unigrams and bigrams so 码数 still meets 鞋码."""

    def __init__(self, stopwords: set[str]) -> None:
        self.stopwords = stopwords

    def __call__(self, text: str) -> list[str]:
        text = text.lower()
        tokens = []
        for tok in jieba.lcut_for_search(text):
            tok = tok.strip()
            if tok and _TOKEN.fullmatch(tok) and tok not in self.stopwords:
                tokens.append(tok if _HAN.match(tok) else _stem(tok))
        for run in _HAN.findall(text):
            chars = [c for c in run if c not in self.stopwords]
            tokens += chars + [a + b for a, b in zip(run, run[1:], strict=False)]
        return tokens


class LexicalIndex:
    def __init__(self, texts: list[str], tokenizer: Tokenizer) -> None:
        self.tokenize = tokenizer
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokenizer(t) or ["∅"] for t in texts], show_progress=False)

    def scores(self, query: str, mask: np.ndarray) -> np.ndarray:
        """BM25 score of every snippet; those outside `mask` score 0."""
        tokens = self.tokenize(query)
        if not tokens:
            return np.zeros(len(mask), dtype=np.float32)
        return self.bm25.get_scores(tokens, weight_mask=mask.astype(np.float32))
