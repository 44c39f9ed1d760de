"""The LLM's interest profile: the model writes a short description of what the user likes, from their
history (and feedback), and that description is the text query of a BM25 or semantic retriever.

This is the "interests" step of the two-stage loop. The prompt is the scenario's ``profile_system.j2`` and
``profile_user.j2`` (``prompts/default/``; a scenario may override them); the history's titles reach it
escaped like in every prompt. The profile is cached: in memory for the retriever's life and, with a
:class:`~promptrec.cache.CompletionCache`, on disk under the same content key as any completion (backend,
messages, parameters). It is returned with the result (:attr:`Retrieved.profile`).

Across domains the profile is the bridge: a history of books, rendered with the ``books`` scenario,
becomes a description of taste that BM25 or embeddings match against a movie catalog.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from promptrec.backends import Backend, GenerationParams, Message, get_backend
from promptrec.cache import CompletionCache, completion_key
from promptrec.data import Item
from promptrec.feedback import FeedbackConfig, select_examples
from promptrec.llm.call import LLMCall
from promptrec.retrieval.base import (
    DEFAULT_POOL,
    BaseRetriever,
    Retrieved,
    User,
    as_history,
    positions,
    query_text,
)
from promptrec.retrieval.bm25 import BM25Retriever
from promptrec.retrieval.semantic import SemanticRetriever
from promptrec.retry import RetryPolicy
from promptrec.scenario import Scenario, load_scenario

logger = logging.getLogger(__name__)

#: Tokens the model may write for a profile (one or two sentences).
PROFILE_MAX_TOKENS = 96
#: Characters of a profile kept (a runaway answer is cut).
PROFILE_MAX_CHARS = 600
_REASONING = re.compile(r"<(think|thinking|reasoning)>.*?(</\1>|$)", re.IGNORECASE | re.DOTALL)
_MEMORY = 4096  # profiles kept in memory per retriever


def clean_profile(text: str) -> str:
    """The profile as one line: reasoning blocks removed, whitespace collapsed, length capped."""
    text = _REASONING.sub(" ", text or "")
    text = " ".join(text.split())
    return text[:PROFILE_MAX_CHARS]


class ProfileRetriever(BaseRetriever):
    """Retrieval by the LLM's description of the user's taste, used as the query of a text retriever.

    Args:
        base: the text retriever the profile queries (:class:`BM25Retriever` or :class:`SemanticRetriever`),
            over the catalog to retrieve from.
        backend: the model that writes the profile (a :class:`~promptrec.backends.Backend` or a spec).
        scenario: the scenario the *history* is rendered in (its item nouns and profile templates); for a
            cross-domain query this is the history's domain, not the catalog's.
        prompts_dirs: user scenario folders, searched before the built-ins.
        cache: a completion cache for profiles across runs; ``None``: memory only.
        feedback: the user's feedback shown to the model (liked, disliked...), as in the ranker's prompts.
        max_history: the most recent history items shown to the model.
        with_history: query with the profile *and* the history's item text (default: the profile alone).
        max_tokens: the profile's length limit in tokens.
        retry: how transient backend failures are retried.
    """

    name = "profile"

    def __init__(
        self,
        base: BM25Retriever | SemanticRetriever,
        backend: Backend | str = "llamacpp",
        scenario: Scenario | str = "default",
        *,
        prompts_dirs: Sequence[str] = (),
        cache: CompletionCache | None = None,
        feedback: FeedbackConfig | None = None,
        max_history: int = 20,
        with_history: bool = False,
        max_tokens: int = PROFILE_MAX_TOKENS,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        super().__init__(base.catalog, cache=False)
        self.base = base
        self.backend: Backend = get_backend(backend) if isinstance(backend, str) else backend
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, prompts_dirs)
        self.completion_cache = cache
        self.feedback = feedback
        self.max_history = max_history
        self.with_history = with_history
        self.max_tokens = max_tokens
        self.retry = retry
        self.name = f"profile:{base.name}"
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._memory_lock = threading.Lock()
        self.llm = LLMCall(self.backend, cache, retry)
        """the cached, retried, counted model call (:class:`promptrec.llm.LLMCall`), as the ranker's"""

    def build(self) -> ProfileRetriever:
        self.base.build()
        return self

    def add_items(self, items: Sequence[Item]) -> None:
        """The base retriever's ``add_items``; the profile follows its catalog."""
        self.base.add_items(items)
        self.catalog = self.base.catalog
        self._items = list(self.catalog.values())
        self._where = positions(self.catalog)

    def add_interactions(self, user_id: str, item_ids: Iterable[str]) -> None:
        """Nothing to update: profiles are made from histories (the base retriever ignores interactions)."""

    def messages(self, user: User) -> list[Message]:
        """The prompt that asks for ``user``'s profile (no model call)."""
        history = as_history(user)
        examples: list[dict[str, Any]] = []
        config = self.feedback
        if config is not None:
            examples = select_examples(
                config.store, history.user_id, self.scenario.name, n=config.examples,
                cross_scenario=config.cross_scenario, token_budget=config.token_budget,
            ).examples
        items = history.items[-self.max_history:] if self.max_history else []
        return self.scenario.render_profile(items, examples=examples)

    def profile(self, user: User) -> str:
        """The model's short description of what ``user`` likes (cached; '' when the model wrote nothing)."""
        messages = self.messages(user)
        params = GenerationParams(max_tokens=self.max_tokens, temperature=0.0, seed=0)
        key = completion_key(self.backend.name, messages, params, mode="profile", labels=[])
        with self._memory_lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        completion = self.llm.complete(messages, params, mode="profile").value
        text = clean_profile(completion.text)
        with self._memory_lock:
            self._memory[key] = text
            while len(self._memory) > _MEMORY:
                self._memory.popitem(last=False)
        return text

    def query(self, user: User, profile: str) -> str:
        """The text query: the profile (and the history's text with ``with_history``)."""
        if self.with_history or not profile.strip():
            return f"{profile} {query_text(user, getattr(self.base, 'max_query_items', 50))}".strip()
        return profile

    def scores(self, user: User) -> np.ndarray:
        """The base retriever's scores for the profile's query."""
        return self.base.text_scores(self.query(user, self.profile(user)))

    def retrieve(self, user: User, n: int = DEFAULT_POOL, *, exclude: Iterable[str] = ()) -> Retrieved:
        profile = self.profile(user)
        if not profile:
            logger.warning("profile: the model wrote an empty profile; querying with the history's text instead")
        scores = self.base.text_scores(self.query(user, profile))
        return self._select(scores, user, n, exclude, profile=profile, info={"query": self.query(user, profile)})
