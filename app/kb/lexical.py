"""BM25 over the snippets (bm25s): English words Snowball-stemmed (PyStemmer) without stop words,
Chinese split by jieba plus character n-grams. Catches exact terms (materials, sizes, "return")
that dense retrieval blurs."""

from __future__ import annotations

import logging
import re
import threading

import bm25s
import jieba
import numpy as np
import Stemmer

jieba.setLogLevel(logging.WARNING)
try:  # bm25s walks its corpus through tqdm when it is installed, whose write lock is otherwise a
    # multiprocessing semaphore even with the bar off: one per `serve` worker, which the supervisor's
    # resource tracker reports on stderr as leaked when the workers stop.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
except ImportError:  # pragma: no cover - bm25s then has no bar and takes no lock
    pass
_TOKEN = re.compile(r"[\w\u3400-\u9fff]+")
_HAN = re.compile(r"[\u3400-\u9fff]+")


class Tokenizer:
    """jieba words, plus Chinese character unigrams and bigrams so 码数 still meets 鞋码; Latin
    words stemmed ("returning", "returned" → "return") after stop words are dropped."""

    def __init__(self, stopwords: set[str], stemmer: str = "english") -> None:
        self.stopwords = {w.lower() for w in stopwords}
        self.stem = Stemmer.Stemmer(stemmer).stemWord

    def __call__(self, text: str) -> list[str]:
        text = text.lower()
        tokens = []
        for tok in jieba.lcut_for_search(text):
            tok = tok.strip()
            if not tok or not _TOKEN.fullmatch(tok) or tok in self.stopwords:
                continue
            if _HAN.match(tok):
                tokens.append(tok)
            elif len(tok) > 1 or tok.isdigit():
                tokens.append(self.stem(tok))
        for run in _HAN.findall(text):
            chars = [c for c in run if c not in self.stopwords]
            tokens += chars + [a + b for a, b in zip(run, run[1:], strict=False)]
        return tokens


class LexicalIndex:
    def __init__(self, texts: list[str], tokenizer: Tokenizer, k1: float = 1.5) -> None:
        self.tokenize = tokenizer
        self.k1 = k1
        self.bm25 = bm25s.BM25(k1=k1)
        corpus = [tokenizer(t) or ["∅"] for t in texts]
        self.bm25.index(corpus, show_progress=False)
        self.docs = len(corpus)
        self.df: dict[str, int] = {}
        for doc in corpus:
            for tok in set(doc):
                self.df[tok] = self.df.get(tok, 0) + 1

    def ceiling(self, query: str) -> float:
        """The most BM25 the query could score: every token matched (the limit k1 + 1 per idf).
        A score over it is the share of the query's weight a snippet matches, comparable across
        queries, where one hit on a common word stays small."""
        total = 0.0
        for tok in self.tokenize(query):
            df = self.df.get(tok, 0)
            total += np.log(1 + (self.docs - df + 0.5) / (df + 0.5)) * (self.k1 + 1)
        return float(total)

    def scores(self, query: str, mask: np.ndarray) -> np.ndarray:
        """BM25 score of every snippet; those outside `mask` score 0."""
        tokens = self.tokenize(query)
        if not tokens:
            return np.zeros(len(mask), dtype=np.float32)
        return self.bm25.get_scores(tokens, weight_mask=mask.astype(np.float32))
