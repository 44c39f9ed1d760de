"""The pipeline: retrieve a pool from the whole catalog, apply the user's feedback, let the LLM rank it, fuse.

>>> from promptrec import Ranker
>>> from promptrec.pipeline import Recommender
>>> from promptrec.retrieval import BM25Retriever
>>> recommender = Recommender(BM25Retriever(catalog), Ranker("llamacpp", "movies"))
>>> ranking = recommender.recommend(history, k=5)
>>> [(r.item.title, r.retrieval_score, r.llm_score, r.fused_score) for r in ranking]

1. The retriever scores every catalog item for the user and keeps the top ``pool`` (default
   :data:`~promptrec.retrieval.base.DEFAULT_POOL` = 20), the history removed.
   The feedback stage works here, with or without an LLM (:mod:`promptrec.feedback_signal`): liked items join
   the history and their neighbours gain, rejected items are removed or demoted below every other item and
   their neighbours lose, items shown without a reaction decay, and a free-text ``query`` adds its semantic
   similarity. A user with no usable history gets a named cold-start fallback (:mod:`promptrec.coldstart`).
   Without feedback and query the pool is exactly the retriever's.
2. The :class:`~promptrec.Ranker` ranks the pool in any mode (generate: Borda points of the model's list;
   score: label log-probabilities; pointwise: log-odds of "Yes"), the pool given in retrieval order (the
   parser's fallback for candidates an answer leaves out).
3. Fusion, with weight ``w`` on the LLM (:func:`fuse`): ``wsum`` (default) is
   ``w * minmax(LLM) + (1 - w) * minmax(retrieval)`` over the pool; ``rrf`` is
   ``w / (60 + LLM rank) + (1 - w) / (60 + retrieval rank)``. Ties go to the better retrieval rank, so
   ``w = 0`` is exactly the retriever's order (and the LLM is then not called at all) and ``w = 1`` the
   LLM's. Items the user's feedback rejected stay last when they are demoted. Each item gets a short
   ``reason`` from the retrieval and feedback attribution (:mod:`promptrec.reasons`).

The weight: :data:`EMBEDDED_LLM_WEIGHT` for the bundled SmolLM2-135M model, :data:`DEFAULT_LLM_WEIGHT`
for any other model. To measure a better one for your model, run ``promptrec eval`` with fusion on your
validation users: it tries ``w`` = 0, 0.1, ..., 1 on them and prints the weight it chose; pass it as
``llm_weight=`` (``--llm-weight``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from promptrec.coldstart import diverse_scores
from promptrec.data import Catalog, Interaction, Item, UserHistory
from promptrec.errors import DataError
from promptrec.feedback_signal import SHOWN_DECAY, FeedbackSignal
from promptrec.ranking import ParseReport, RankedItem, Ranking
from promptrec.reasons import Source, reason
from promptrec.retrieval.base import (
    DEFAULT_POOL,
    EmptyPoolError,
    Interactions,
    Retrieved,
    Retriever,
    User,
    as_history,
    positions,
    top_n,
)

if TYPE_CHECKING:
    from promptrec.feedback_store import FeedbackRecord, FeedbackStore
    from promptrec.ranker import Ranker
    from promptrec.retrieval.semantic import SemanticRetriever

logger = logging.getLogger(__name__)

Fusion = Literal["wsum", "rrf"]
FUSIONS: tuple[str, ...] = ("wsum", "rrf")
RRF_K = 60
Rejected = Literal["demote", "remove", "keep"]
REJECTED: tuple[str, ...] = ("demote", "remove", "keep")

#: The feedback stage, in units of the normalised retrieval score (each in [0, 1] over the catalog): a liked
#: item's neighbours gain ``LIKED_WEIGHT`` x its weight (:mod:`promptrec.feedback_signal`), the neighbours of
#: the disliked items lose ``STEER_WEIGHT`` x their mean similarity, and a query counts ``QUERY_WEIGHT``
#: against the history's 1.
LIKED_WEIGHT = 1.0
STEER_WEIGHT = 0.25
QUERY_WEIGHT = 1.0
#: The most rejected items whose neighbours are steered away from, and the most recent history or liked items
#: a reason may name (each costs one look-up of the retriever).
MAX_STEER_ITEMS = 10
MAX_REASON_SOURCES = 10

#: The weight on the LLM for the bundled SmolLM2-135M-Instruct model: 0, as measured. On MovieLens over the
#: full catalog (30 validation users, co-occurrence's pool of 20; eval/README.md), validation NDCG@10 was
#: 0.0434 at w = 0, the best 0.0438 at w = 0.4 (paired s.e. 0.0148), falling to 0.0105 at w = 1; the
#: one-standard-error rule chose w = 0. The 20-candidate protocol chose w = 0 on MovieLens, Games and
#: books->movies (0.1 on cds->books). A 135M model ranks at chance, so by default its answer does not move
#: the retriever's order and it is not called; ``llm_weight=`` / ``--llm-weight`` lets it speak.
EMBEDDED_LLM_WEIGHT = 0.0

#: The weight on the LLM for any other model, until you measure one (see the module docstring).
DEFAULT_LLM_WEIGHT = 0.5


def default_llm_weight(ranker: Ranker | None) -> float:
    """:data:`EMBEDDED_LLM_WEIGHT` when ``ranker`` runs the bundled model, else :data:`DEFAULT_LLM_WEIGHT`
    (0 without a ranker)."""
    if ranker is None:
        return 0.0
    return backend_llm_weight(ranker.backend.name)


def backend_llm_weight(backend: str) -> float:
    """The default weight on the LLM of the backend spec or name ``backend``: :data:`EMBEDDED_LLM_WEIGHT` for
    the bundled model, else :data:`DEFAULT_LLM_WEIGHT` (decided before any model loads)."""
    from promptrec.models import is_bundled

    return EMBEDDED_LLM_WEIGHT if is_bundled(backend) else DEFAULT_LLM_WEIGHT


def _minmax(values: Sequence[float]) -> list[float]:
    """``values`` rescaled to [0, 1] (all 0 when they are equal); a non-finite value counts as the lowest."""
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    if high == low:
        return [0.0] * len(values)
    return [((v if math.isfinite(v) else low) - low) / (high - low) for v in values]


def fuse(
    retrieval: Sequence[float], llm: Sequence[float] | None, weight: float, kind: Fusion = "wsum"
) -> tuple[list[int], list[float]]:
    """Fuse a pool's retrieval scores (given best first, as retrieved) with the LLM's scores.

    Returns the fused order (indices into the pool) and the fused score of each pool item (by pool index).
    ``llm`` ``None`` (not asked) counts as the retrieval order alone. Ties go to the better retrieval rank,
    so ``weight = 0`` returns ``range(len(retrieval))`` exactly.
    """
    if not 0.0 <= weight <= 1.0:
        raise DataError(f"the LLM weight must be between 0 and 1, got {weight}", field="llm_weight")
    if kind not in FUSIONS:
        raise DataError(f"unknown fusion '{kind}'; use one of: {', '.join(FUSIONS)}", field="fusion")
    n = len(retrieval)
    if n == 0:
        return [], []
    if llm is not None and len(llm) != n:
        raise ValueError(f"{len(llm)} LLM scores for a pool of {n}")
    if kind == "wsum":
        base = _minmax(retrieval)
        extra = _minmax(llm) if llm is not None else [0.0] * n
        fused = [weight * a + (1 - weight) * b for a, b in zip(extra, base)]
    else:
        llm_order = sorted(range(n), key=lambda i: (-llm[i], i)) if llm is not None else list(range(n))
        llm_rank = {index: rank for rank, index in enumerate(llm_order, start=1)}
        fused = [weight / (RRF_K + llm_rank[i]) + (1 - weight) / (RRF_K + i + 1) for i in range(n)]
    if weight == 0.0:  # the retriever's order, exactly (no float rounding can reorder it)
        return list(range(n)), fused
    return sorted(range(n), key=lambda i: (-fused[i], i)), fused


class Recommender:
    """Recommend from a whole catalog: retrieval, the feedback stage, an LLM ranker and their fusion (module
    docstring).

    Args:
        retriever: any :class:`~promptrec.retrieval.base.Retriever` over the catalog.
        ranker: the :class:`~promptrec.Ranker` that ranks the pool; ``None``: retrieval only.
        llm_weight: the weight ``w`` on the LLM's score in [0, 1]; default: :func:`default_llm_weight`.
        pool: how many items to retrieve and rank (default :data:`DEFAULT_POOL`); clamped, with a warning,
            to what the catalog has left once the history is removed.
        fusion: ``wsum`` (default) or ``rrf``.
        feedback_store: where a stored user's feedback is read from (every scenario: the signal is keyed by
            item id); ``None``: only the ``feedback=`` given to :meth:`recommend`.
        rejected: what happens to items the user rejected: ``demote`` (default; below every other item),
            ``remove`` (never recommended) or ``keep``.
        interactions: who interacted with what, for the popularity fallback of a user with no usable history.
        semantic: the semantic retriever that embeds ``query=`` and spreads the diverse fallback [default:
            the retriever itself when it is one (or a member), else one built over the catalog when needed].
    """

    def __init__(
        self,
        retriever: Retriever,
        ranker: Ranker | None = None,
        *,
        llm_weight: float | None = None,
        pool: int = DEFAULT_POOL,
        fusion: Fusion = "wsum",
        feedback_store: FeedbackStore | None = None,
        rejected: Rejected = "demote",
        interactions: Interactions | None = None,
        semantic: SemanticRetriever | None = None,
    ) -> None:
        self.retriever = retriever
        self.ranker = ranker
        self.llm_weight = default_llm_weight(ranker) if llm_weight is None else float(llm_weight)
        if not 0.0 <= self.llm_weight <= 1.0:
            raise DataError(f"the LLM weight must be between 0 and 1, got {llm_weight}", field="llm_weight")
        if pool < 1:
            raise DataError(f"the pool size must be at least 1, got {pool}", field="pool")
        if fusion not in FUSIONS:
            raise DataError(f"unknown fusion '{fusion}'; use one of: {', '.join(FUSIONS)}", field="fusion")
        if rejected not in REJECTED:
            raise DataError(f"unknown rejected mode '{rejected}'; use one of: {', '.join(REJECTED)}", field="rejected")
        self.pool = pool
        self.fusion: Fusion = fusion
        self.feedback_store = feedback_store
        self.rejected: Rejected = rejected
        self.interactions = interactions if interactions is not None else getattr(retriever, "interactions", None)
        self._semantic = semantic

    @property
    def catalog(self) -> Catalog:
        """The catalog recommended from (the retriever's)."""
        return self.retriever.catalog

    def retrieve(self, user: User, *, exclude: Iterable[str] = ()) -> Retrieved:
        """Stage 1 only: the retriever's pool for ``user`` (no feedback applied)."""
        return self.retriever.retrieve(user, self.pool, exclude=exclude)

    def recommend(
        self,
        user: User,
        k: int | None = 10,
        *,
        feedback: Sequence[FeedbackRecord] | None = None,
        query: str | None = None,
        exclude: Iterable[str] = (),
        user_id: str | None = None,
        explain: bool = True,
    ) -> Ranking:
        """The top ``k`` catalog items for ``user`` (a history or its items, oldest first; may be empty); all of
        the pool when ``k`` is ``None``.

        Args:
            feedback: the user's reactions (:class:`~promptrec.feedback_store.FeedbackRecord`), for a session
                without a stored user; a stored user's records (``feedback_store``, by ``user_id`` or the
                history's user id) are added to them.
            query: the user's interests in their own words, embedded by the semantic retriever; combines with
                the history, and is the fallback when there is none.
            exclude: items never to recommend (besides the history and the liked items).
            user_id: the user's id, when ``user`` is a list of items.
            explain: write each item's ``reason`` (a few extra retriever look-ups).
        """
        if k is not None and k < 1:
            raise DataError(f"k must be at least 1, got {k}", field="k")
        history = as_history(user, self.retriever.catalog)  # ids or titles are looked up in the catalog
        if user_id is not None:
            history = history.model_copy(update={"user_id": user_id})
        query = " ".join(query.split()) if query and query.strip() else None
        records = list(feedback or ()) + self._stored(history.user_id)
        state = _State(self, history, FeedbackSignal.from_records(records), query, set(exclude))
        retrieved = state.retrieve()
        llm = self._rank(state, retrieved)
        return self._finish(state, retrieved, llm, k, explain)

    def recommend_many(self, users: Any, k: int = 10, **options: Any) -> Any:
        """Recommend ``k`` items to many users at once: one long pandas DataFrame
        (:func:`promptrec.frames.recommend_many`, which documents ``users`` and the options)."""
        from promptrec.frames import recommend_many

        return recommend_many(self, users, k, **options)

    def similar(self, item_id: str, n: int = 10, *, exclude: Iterable[str] = ()) -> Ranking:
        """The ``n`` items most like the catalog item ``item_id``, by the retriever, with reasons."""
        if item_id not in self.catalog:
            raise DataError(f"item '{item_id}' is not in the catalog ({len(self.catalog)} items)", field="item")
        return self.recommend([self.catalog[item_id]], n, exclude=exclude, feedback=())

    def _stored(self, user_id: str) -> list[FeedbackRecord]:
        if self.feedback_store is None or not user_id or user_id == "anonymous":
            return []
        return self.feedback_store.list(user_id)

    def _rank(self, state: _State, retrieved: Retrieved) -> Ranking | None:
        if self.ranker is None or self.llm_weight == 0.0:
            return None
        return self.ranker.rank(state.effective, retrieved.items)

    def semantic(self) -> SemanticRetriever:
        """The semantic retriever that embeds queries (see the class docstring); built on first use."""
        if self._semantic is None:
            from promptrec.retrieval.semantic import SemanticRetriever

            found = [r for r in _members(self.retriever) if isinstance(r, SemanticRetriever)]
            self._semantic = found[0] if found else SemanticRetriever(self.catalog)
        return self._semantic

    def combine(self, history: UserHistory, retrieved: Retrieved, llm: Ranking | None, k: int | None = None) -> Ranking:
        """Stage 3: the :class:`Ranking` of ``retrieved`` fused with the LLM's ``llm`` ranking of it (or the
        retrieval order alone when ``llm`` is ``None``), the top ``k`` kept."""
        return self._finish(_State(self, history, FeedbackSignal(), None, set()), retrieved, llm, k, False)

    #: Deprecated name of :meth:`combine` (the module's :func:`fuse` is the one fusion).
    fuse = combine

    def _finish(self, state: _State, retrieved: Retrieved, llm: Ranking | None, k: int | None,
                explain: bool) -> Ranking:
        items = retrieved.items
        ranked = {r.item.id: r for r in llm.items} if llm is not None else {}
        keep = [i for i, item in enumerate(items) if llm is None or item.id in ranked]  # feedback may remove
        pool_scores = [retrieved.scores[i] for i in keep]
        llm_scores = [ranked[items[i].id].score for i in keep] if llm is not None else None
        order, fused = fuse(pool_scores, llm_scores, self.llm_weight, self.fusion)
        demoted = set(llm.demoted) if llm is not None else set()
        demoted |= state.demoted
        if demoted:
            order = [j for j in order if items[keep[j]].id not in demoted] + [
                j for j in order if items[keep[j]].id in demoted]
        order = order[:k] if k else order
        llm_rank = {r.item.id: position for position, r in enumerate(llm.items, start=1)} if llm is not None else {}
        reasons = state.reasons([items[keep[j]] for j in order], llm_rank) if explain else {}
        result = []
        for rank, j in enumerate(order, start=1):
            i = keep[j]
            item = items[i]
            from_llm = ranked.get(item.id)
            result.append(RankedItem(
                item=item, rank=rank, label=from_llm.label if from_llm else "", score=fused[j],
                retrieval_score=retrieved.scores[i], retrieval_rank=i + 1,
                llm_score=from_llm.score if from_llm else None, fused_score=fused[j],
                feedback_score=state.feedback_score(item.id),
                reason=reasons.get(item.id, ""),
            ))
        stages = {
            "items": result,
            "retriever": retrieved.retriever,
            "profile": retrieved.profile,
            "pool": len(items),
            "llm_weight": self.llm_weight,
            "fusion": self.fusion,
            "fallback": state.fallback,
            "query": state.query,
            "feedback": state.summary(),
        }
        if llm is not None:
            return llm.model_copy(update=stages)
        ranker = self.ranker
        return Ranking(
            user_id=state.history.user_id, raw="", report=ParseReport(),
            backend=ranker.backend.name if ranker else "none",
            scenario=ranker.scenario.name if ranker else "default",
            strategy=ranker.strategy if ranker else "none",
            mode="retrieval", history_used=0, history_dropped=0, **stages,
        )


def _members(retriever: Retriever) -> list[Retriever]:
    """The retriever, the members of an ensemble and the base of a profile retriever, depth first."""
    found = [retriever]
    for child in [*getattr(retriever, "retrievers", ()), *([retriever.base] if hasattr(retriever, "base") else [])]:
        found += _members(child)
    return found


def _normalised(values: np.ndarray) -> np.ndarray:
    """``values`` min-max scaled to [0, 1] over the catalog (all 0 when constant; non-finite as the lowest)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(len(values))
    low, high = values[finite].min(), values[finite].max()
    if high == low:
        return np.zeros(len(values))
    return np.where(finite, (values - low) / (high - low), 0.0)


class _State:
    """One :meth:`Recommender.recommend` call: the user's effective history, the feedback signal, the
    cold-start fallback, the combined scores and the attribution behind each reason."""

    def __init__(self, owner: Recommender, history: UserHistory, signal: FeedbackSignal, query: str | None,
                 exclude: set[str]) -> None:
        self.owner = owner
        self.history = history
        self.signal = signal
        self.query = query
        catalog = owner.catalog
        where = positions(catalog)  # membership by one dict look-up (a history may have thousands of items)
        self.unknown = sorted(i for i in {*signal.liked_ids, *signal.rejected} if i not in where)
        if self.unknown:
            logger.info("feedback on %d items that are not in the catalog skipped: %s", len(self.unknown),
                        ", ".join(self.unknown[:5]))
        rejected = signal.rejected if owner.rejected != "keep" else frozenset()
        self.rejected = frozenset(i for i in rejected if i in where)
        interactions = history.interactions
        seen = {interaction.item.id for interaction in interactions}
        liked = [catalog[i] for i in signal.liked_ids if i in where and i not in seen]
        self.liked_ids = {i for i in signal.liked_ids if i in where}
        # the history's own interactions are reused (no object per item): a stored user may have thousands
        kept = [i for i in interactions if i.item.id not in rejected] if rejected else interactions
        self._effective = kept + [Interaction.model_construct(item=item) for item in liked] if liked else kept
        interaction_only = getattr(owner.retriever, "uses_interactions", False)
        usable = [i for i in self._effective if i.item.id in where] if interaction_only else self._effective
        self.usable = [i.item for i in usable]
        self._usable_history = history if self._effective is interactions and len(usable) == len(interactions) else \
            UserHistory.model_construct(user_id=history.user_id, interactions=usable)
        self.exclude = exclude | seen | self.liked_ids
        if owner.rejected == "remove":
            self.exclude |= self.rejected
        self.demoted = set(self.rejected) if owner.rejected == "demote" else set()
        self.fallback: str | None = None
        if not self.usable and query is None:
            self.fallback = "popularity" if owner.interactions is not None else "diverse"
        self.feedback_part: np.ndarray | None = None
        self._item_scores: dict[str, np.ndarray] = {}

    @cached_property
    def effective(self) -> UserHistory:
        """The history the LLM sees: the user's items less the rejected ones, then the liked ones (made only
        when the LLM is asked)."""
        return UserHistory.from_items([i.item for i in self._effective], user_id=self.history.user_id)

    # -- retrieval with the feedback stage -----------------------------------------------------------------
    def retrieve(self) -> Retrieved:
        owner = self.owner
        plain = not self.signal and self.query is None and self.fallback is None
        if plain:  # no feedback, no query: exactly the retriever's pool
            return owner.retriever.retrieve(self.history, owner.pool, exclude=self.exclude)
        scores = self._scores()
        return self._select(scores)

    def _scores(self) -> np.ndarray:
        owner = self.owner
        size = len(owner.catalog)
        if self.fallback == "popularity":
            assert owner.interactions is not None
            return np.asarray(owner.interactions.matrix.sum(axis=0), dtype=np.float64).ravel()
        if self.fallback == "diverse":
            return diverse_scores(owner.semantic().vectors, owner.pool, self._mask(self.exclude | self.demoted))
        total = np.zeros(size)
        if self.usable:
            total += _normalised(owner.retriever.scores(self._usable_history))
        if self.query is not None:
            total += QUERY_WEIGHT * _normalised(owner.semantic().text_scores(self.query))
        part = np.zeros(size)
        where = positions(owner.catalog)
        if self._steerable():
            for item_id, weight in self.signal.liked:
                if item_id in where:
                    part += LIKED_WEIGHT * weight * self.item_scores(item_id)
            disliked = sorted(i for i in self.signal.disliked if i in self.rejected)[:MAX_STEER_ITEMS]
            if disliked:
                part -= STEER_WEIGHT * np.mean([self.item_scores(i) for i in disliked], axis=0)
        for item_id, count in self.signal.shown.items():
            if item_id in where:
                part[where[item_id]] -= SHOWN_DECAY * count
        self.feedback_part = part if self.signal else None
        return total + part

    def _steerable(self) -> bool:
        """Whether per-item scores mean similarity (every retriever but popularity's single ordering)."""
        return not self.owner.retriever.name.startswith("popularity")

    def item_scores(self, item_id: str) -> np.ndarray:
        """The base retriever's scores for a history of one catalog item, normalised (cached per call)."""
        if item_id not in self._item_scores:
            self._item_scores[item_id] = _normalised(self._scorer().scores([self.owner.catalog[item_id]]))
        return self._item_scores[item_id]

    def _scorer(self) -> Retriever:
        """The retriever that scores one item's neighbours: the pipeline's, or a profile retriever's base (no
        model call per item)."""
        members = _members(self.owner.retriever)
        return members[1] if members[0].name.startswith("profile") and len(members) > 1 else members[0]

    def _mask(self, ids: Iterable[str]) -> np.ndarray:
        where = positions(self.owner.catalog)
        mask = np.zeros(len(where), dtype=bool)
        for item_id in ids:
            if item_id in where:
                mask[where[item_id]] = True
        return mask

    def _select(self, scores: np.ndarray) -> Retrieved:
        owner = self.owner
        catalog_items = list(owner.catalog.values())
        blocked = self._mask(self.exclude)
        demoted = self._mask(self.demoted)
        chosen = list(top_n(scores, owner.pool, blocked | demoted))
        if len(chosen) < owner.pool and self.demoted:
            chosen += list(top_n(scores, owner.pool - len(chosen), blocked | ~demoted))
        if not chosen:
            raise EmptyPoolError(f"nothing left to recommend: all {len(catalog_items)} items of the catalog are in "
                                 "the user's history, liked, rejected or excluded")
        name = owner.retriever.name if self.fallback is None else f"fallback:{self.fallback}"
        return Retrieved(items=[catalog_items[i] for i in chosen], scores=[float(scores[i]) for i in chosen],
                         retriever=name, requested=owner.pool)

    # -- what the ranking says about the stage ----------------------------------------------------------------
    def feedback_score(self, item_id: str) -> float | None:
        if self.feedback_part is None:
            return None
        where = positions(self.owner.catalog)
        return float(self.feedback_part[where[item_id]]) if item_id in where else None

    def summary(self) -> dict[str, Any] | None:
        if not self.signal:
            return None
        return {"liked": sorted(self.liked_ids), "rejected": sorted(self.rejected),
                "rejected_mode": self.owner.rejected, "shown_decayed": len(self.signal.shown),
                "skipped_unknown": self.unknown}

    def reasons(self, items: Sequence[Item], llm_rank: dict[str, int]) -> dict[str, str]:
        """Item id -> why it is recommended, for the items shown (one similarity look-up for all of them)."""
        sources = self._sources(items)
        return {item.id: reason(item, sources.get(item.id), self.owner.retriever.name, query=self.query,
                                fallback=self.fallback, llm_rank=llm_rank.get(item.id)) for item in items}

    def _sources(self, items: Sequence[Item]) -> dict[str, Source]:
        """Each item's history or liked item that contributes most to its score (none for popularity): the most
        similar of the user's last :data:`MAX_REASON_SOURCES` items, by the retriever's own similarity."""
        if self.fallback is not None or not self._steerable() or not items:
            return {}
        catalog = self.owner.catalog
        where = positions(catalog)
        candidates: list[str] = []  # the last ones, found from the end (a history may have thousands of items)
        for item in reversed(self.usable):
            if len(candidates) == MAX_REASON_SOURCES:
                break
            if item.id in where:
                candidates.append(item.id)
        candidates.reverse()
        if not candidates:
            return {}
        targets = [where[item.id] for item in items]
        pairwise = getattr(self._scorer(), "item_similarity", None)  # semantic, co-occurrence: one look-up
        if pairwise is not None:
            similarity = pairwise([where[i] for i in candidates], targets)
        else:  # each source's neighbours scored over the catalog
            similarity = np.stack([self.item_scores(i)[targets] for i in candidates])
        found = {}
        for column, item in enumerate(items):
            best = int(np.argmax(similarity[:, column]))
            if similarity[best, column] > 0:
                found[item.id] = Source(catalog[candidates[best]], liked=candidates[best] in self.liked_ids)
        return found


__all__ = ["DEFAULT_LLM_WEIGHT", "DEFAULT_POOL", "EMBEDDED_LLM_WEIGHT", "FUSIONS", "LIKED_WEIGHT", "QUERY_WEIGHT", "REJECTED",
           "STEER_WEIGHT", "Fusion", "Recommender", "Rejected",
           "backend_llm_weight", "default_llm_weight", "fuse"]
