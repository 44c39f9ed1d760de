"""The one shipped pipeline, kept in step with the database: the service's only way to recommend.

:class:`PipelineEngine` holds a :class:`~promptrec.pipeline.Recommender` made by
``PipelineConfig.make_recommender`` over the stored catalog and interactions, and answers with
``Recommender.recommend`` / ``Recommender.similar``; it adds no recommendation logic of its own. What it adds
is serving:

* **Freshness.** Before each answer it asks the store whether the catalog changed (one indexed query on a
  version counter, so it also sees what other service processes wrote to a shared PostgreSQL). Hidden
  items are passed as ``exclude``; they need no index change. New or edited items go to the retriever's
  ``add_items`` where it has one (an in-place, incremental index update); otherwise the recommender is
  rebuilt lazily: once, by the first answer after a burst of writes, however many items the burst had,
  while concurrent answers go on with the previous recommender.
* **Concurrency.** Answers run side by side (a readers-writer lock keeps ``add_items`` apart from them);
  ``create_app`` runs them in a thread pool, so a slow LLM call never blocks the event loop.
* **The LLM's examples.** With an LLM weight above 0, the ranker's prompt carries the user's feedback as
  in-context examples, as ``promptrec rank --user`` does: the records given with the request (the
  service's database's) are served to the ranker through a
  :class:`~promptrec.feedback_store.RequestFeedback` store for the duration of the call.
* **Coalescing.** Identical requests that arrive while one is being answered (same history, feedback,
  query, n and catalog version) share that one answer, so a burst of them costs one LLM call.
* **The heap.** After each build (and once the query embedder is loaded) everything alive is moved out of
  the garbage collector's sight (:func:`settle_heap`): the catalog, the indexes and the app are hundreds of
  thousands of long-lived objects that every full collection would otherwise walk again, which cost about
  0.5 ms a request on MovieLens, in pauses of tens of milliseconds.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from promptrec.config import FeedbackSection, PipelineConfig
from promptrec.data import Catalog, Item, UserHistory
from promptrec.errors import PromptrecError
from promptrec.feedback import FeedbackConfig
from promptrec.feedback_store import FeedbackRecord, RequestFeedback
from promptrec.pipeline import Recommender
from promptrec.ranking import Ranking
from promptrec.service.store import Store, StoredItem

logger = logging.getLogger(__name__)


class ReadWriteLock:
    """Many readers or one writer; a waiting writer goes before new readers."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._condition:
            while self._writing or self._writers_waiting:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if not self._readers:
                    self._condition.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._condition.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


#: The counters of :class:`EngineStats` (each is a Prometheus counter in /metrics).
COUNTERS = ("rebuilds", "incremental_updates", "llm_calls", "llm_cache_hits", "coalesced")


@dataclass
class EngineStats:
    """The engine's counts (monotonic, since start-up) and its last build time. :meth:`add` counts and tells
    each of ``listeners`` (the metrics, which keep one total over every worker process)."""

    rebuilds: int = 0
    incremental_updates: int = 0
    llm_calls: int = 0
    llm_cache_hits: int = 0
    coalesced: int = 0
    last_rebuild_seconds: float = 0.0
    listeners: list[Callable[[str, int], None]] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: str, amount: int = 1) -> None:
        """Count ``amount`` more of ``counter`` (one of :data:`COUNTERS`)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)
        for listener in self.listeners:
            listener(counter, amount)


class PipelineEngine:
    """The recommender over the store's catalog (see the module docstring).

    Args:
        store: the service's database.
        config: the pipeline configuration ``make_recommender`` builds from.
        on_ranking: called with every fresh :class:`Ranking` (not coalesced copies), for metrics.
        feedback: how the ranker shows each request's feedback in its prompt (examples, selection,
            rejected) [default: ``config``'s feedback section]; its store is ignored.
        settle: freeze the heap after each build (:func:`settle_heap`).
    """

    def __init__(self, store: Store, config: PipelineConfig,
                 on_ranking: Callable[[Ranking], None] | None = None, *, feedback: FeedbackSection | None = None,
                 settle: bool = True) -> None:
        self.store = store
        self.config = config
        self.stats = EngineStats()
        self._on_ranking = on_ranking
        self._lock = ReadWriteLock()
        self._update = threading.Lock()
        self._inflight: dict[Hashable, Future[Ranking]] = {}
        self._inflight_lock = threading.Lock()
        self._recommender: Recommender | None = None
        self._version = -1
        self._hidden: frozenset[str] = frozenset()
        self._items: dict[str, Item] = {}
        # one backend, cache and scenario for every rebuild; each ranker shows the request's feedback
        self._ranker_for = _request_feedback_rankers(config.rankers(), feedback or config.feedback)
        self._warm = threading.Event()
        self._settle = settle

    # ------------------------------------------------------------------------------------ state

    @property
    def catalog_version(self) -> int:
        """The catalog version the current recommender reflects."""
        return self._version

    @property
    def hidden(self) -> frozenset[str]:
        """Ids of the hidden items (never recommended)."""
        return self._hidden

    @property
    def incremental(self) -> bool:
        """Whether catalog changes update the index in place (the recommender's or its retriever's
        ``add_items``); else the recommender is rebuilt lazily."""
        recommender = self._recommender
        return recommender is not None and (hasattr(recommender, "add_items") or hasattr(recommender.retriever, "add_items"))

    @property
    def warm(self) -> bool:
        """Whether the embedder of free-text queries is loaded (:meth:`start` loads it in the background)."""
        return self._warm.is_set()

    @property
    def size(self) -> int:
        """How many catalog items the recommender knows (hidden ones included)."""
        return len(self._items)

    def item(self, item_id: str) -> Item | None:
        """The catalog item the recommender knows by this id."""
        return self._items.get(item_id)

    def start(self, *, background: bool = True) -> None:
        """Build the recommender now and warm its retrieval, so that the first client does not wait for indexes
        to load; then load the embedder of free-text queries (the semantic index over the whole catalog,
        which takes minutes for a large catalog the first time) in a background thread, or now. Requests
        with a query wait for it; the others do not. The LLM is not called."""
        self.refresh(wait=True)
        recommender = self._recommender
        assert recommender is not None
        first = next(iter(recommender.catalog.values()))
        recommender.retrieve([first])
        self._warm.clear()
        if background:
            threading.Thread(target=self._warm_up, name="promptrec-warm-up", daemon=True).start()
        else:
            self._warm_up()

    def _warm_up(self) -> None:
        try:
            recommender = self._recommender
            assert recommender is not None
            started = time.perf_counter()
            semantic = recommender.semantic()
            semantic.text_scores(next(iter(recommender.catalog.values())).title)
            if len(semantic.catalog) != len(recommender.catalog):  # items arrived while it was being built
                with self._lock.write():
                    semantic.add_items(list(recommender.catalog.values()))
            logger.info("the query embedder is ready (%.1f s)", time.perf_counter() - started)
        except Exception:  # a query will meet the same error, and report it
            logger.exception("could not load the embedder of free-text queries")
        finally:
            if self._settle:
                settle_heap()
            self._warm.set()

    def refresh(self, *, wait: bool = True, version: int | None = None) -> None:
        """Catch up with the store's catalog (module docstring). With ``wait=False`` a caller that finds
        another thread updating goes on with the current recommender instead of waiting for it; ``version``:
        the catalog version the caller has just read (saves a query)."""
        if self._recommender is not None and (version if version is not None else self.store.catalog_version()) == self._version:
            return
        if not self._update.acquire(blocking=wait or self._recommender is None):
            return
        try:
            if self._recommender is None:
                self._rebuild()
                return
            changes = self.store.changes(self._version)
            if changes.version == self._version:
                return
            self._hidden = self._apply_hidden(changes.items)
            edited = [s.item for s in changes.items if self._items.get(s.item.id) != s.item]
            if edited and not (self.incremental and self._add_in_place(edited)):
                self._rebuild()
                if self._warm.is_set():  # the new recommender's query embedder, in the background again
                    self._warm.clear()
                    threading.Thread(target=self._warm_up, name="promptrec-warm-up", daemon=True).start()
                return
            self._version = changes.version
        finally:
            self._update.release()

    def _add_in_place(self, items: list[Item]) -> bool:
        """``add_items`` on the recommender (or its retriever, and the recommender's other views of the
        catalog), excluding every answer meanwhile; ``False`` when the retriever cannot."""
        recommender = self._recommender
        assert recommender is not None
        with self._lock.write():
            try:
                if hasattr(recommender, "add_items"):
                    recommender.add_items(items)
                else:
                    _add_items(recommender, items, self._warm.is_set())
            except NotImplementedError as exc:
                logger.info("%s; rebuilding instead", exc)
                return False
            self._items.update((item.id, item) for item in items)
        self.stats.add("incremental_updates")
        logger.info("added or changed %d item(s) in the index in place", len(items))
        return True

    def _apply_hidden(self, changed: Sequence[StoredItem]) -> frozenset[str]:
        hidden = set(self._hidden)
        for stored in changed:
            (hidden.add if stored.hidden else hidden.discard)(stored.item.id)
        return frozenset(hidden)

    def _rebuild(self) -> None:
        started = time.perf_counter()
        version = self.store.catalog_version()
        stored = self.store.items()
        if not stored:
            raise EmptyCatalogError("the catalog is empty: add items with POST /items (or start with --catalog)")
        catalog = Catalog((s.item for s in stored), source="the service's database")
        interactions = None
        histories = self.store.all_interactions()
        if histories:
            from promptrec.retrieval import Interactions

            interactions = Interactions.from_sequences(catalog, histories)
        recommender = _make_recommender(self.config, catalog, self._ranker_for, interactions)
        self._recommender = recommender
        self._items = dict(catalog.items())
        self._hidden = frozenset(s.item.id for s in stored if s.hidden)
        self._version = version
        self.stats.last_rebuild_seconds = time.perf_counter() - started
        self.stats.add("rebuilds")
        logger.info("recommender built over %d items and %d interactions in %.2f s (%s)", len(catalog),
                    len(interactions) if interactions is not None else 0, self.stats.last_rebuild_seconds,
                    recommender.retriever.name)
        del stored, histories, catalog, interactions
        if self._settle:
            settle_heap()

    # ------------------------------------------------------------------------------------ answers

    def recommend(self, history: UserHistory | Sequence[Item], n: int, *, feedback: Sequence[FeedbackRecord] = (),
                  query: str | None = None, user_id: str | None = None, refresh: bool = True,
                  exclude: frozenset[str] = frozenset(), history_key: Hashable | None = None) -> Ranking:
        """The pipeline's top ``n`` for a history (oldest first; items, or a UserHistory with timestamps and
        ratings) and the user's feedback; hidden items never come back, nor those in ``exclude``. Blocking:
        call it from a worker thread. ``refresh=False``: the caller has just refreshed. ``history_key``: what
        identifies the history for coalescing (a stored user's id and versions) instead of its item ids."""
        if refresh:
            self.refresh(wait=False)
        if query is not None:
            self._warm.wait()
        user = history if isinstance(history, UserHistory) else UserHistory.from_items(history, user_id or "anonymous")
        if history_key is None:
            history_key = tuple(i.item.id for i in user.interactions)
        key = ("recommend", self._version, self._hidden, history_key,
               tuple((r.item_id, r.label, r.rating) for r in feedback), query, n, user_id, exclude)

        def run(recommender: Recommender) -> Ranking:
            with RequestFeedback.serving(feedback):  # the LLM's in-context examples, when it is asked
                return call_recommend(recommender, user, n, feedback=list(feedback), query=query,
                                      exclude=self._hidden | exclude, user_id=user_id)

        return self._answer(key, run)

    def similar(self, item_id: str, n: int, *, refresh: bool = True) -> Ranking:
        """Items like ``item_id`` (the pipeline's ``similar``), hidden ones left out. Blocking."""
        if refresh:
            self.refresh(wait=False)
        key = ("similar", self._version, self._hidden, item_id, n)

        def run(recommender: Recommender) -> Ranking:
            return call_similar(recommender, item_id, n, self._hidden)

        return self._answer(key, run)

    def _answer(self, key: Hashable, run: Callable[[Recommender], Ranking]) -> Ranking:
        with self._inflight_lock:
            pending = self._inflight.get(key)
            if pending is None:
                future: Future[Ranking] = Future()
                self._inflight[key] = future
        if pending is not None:
            self.stats.add("coalesced")
            return pending.result()
        try:
            with self._lock.read():
                recommender = self._recommender
                assert recommender is not None
                ranking = run(recommender)
            future.set_result(ranking)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            with self._inflight_lock:
                self._inflight.pop(key, None)
        self._count(ranking)
        return ranking

    def _count(self, ranking: Ranking) -> None:
        if ranking.mode != "retrieval":
            if ranking.cached:
                self.stats.add("llm_cache_hits")
            else:
                self.stats.add("llm_calls")
        if self._on_ranking is not None:
            self._on_ranking(ranking)


class EmptyCatalogError(PromptrecError):
    """The database has no item to recommend."""


def settle_heap() -> None:
    """Collect the garbage, then freeze what is alive (``gc.freeze``): later collections skip it. Frozen
    objects are still freed by reference counting; the next call unfreezes first, so a replaced recommender's
    cycles are collected then."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    logger.debug("heap settled: %d objects frozen in %.0f ms", gc.get_freeze_count(),
                 (time.perf_counter() - started) * 1000)


def _add_items(recommender: Recommender, items: list[Item], warm: bool) -> None:
    """The retriever's ``add_items``, and the same change in the recommender's other views of the catalog:
    the query embedder (when it is not the retriever itself) and the interactions of the popularity fallback."""
    retriever = recommender.retriever
    retriever.add_items(items)  # type: ignore[attr-defined]
    if warm:
        semantic = recommender.semantic()
        if semantic is not retriever and all(semantic is not r for r in getattr(retriever, "retrievers", ())):
            semantic.add_items(items)
    interactions = recommender.interactions
    if interactions is not None and len(interactions.catalog) != len(retriever.catalog):
        recommender.interactions = getattr(retriever, "interactions", None) or interactions.with_catalog(retriever.catalog)


def _request_feedback_rankers(ranker_for: Any, section: FeedbackSection) -> Any:
    """``ranker_for`` whose rankers read their feedback from :class:`RequestFeedback` (the records each call
    serves), with ``section``'s examples, selection and treatment of rejected items."""
    feedback = FeedbackConfig(RequestFeedback(), examples=section.examples,  # type: ignore[arg-type]
                              selection=section.selection, cross_scenario=section.cross_scenario,
                              rejected=section.rejected)

    def made(scenario: str | None = None) -> Any:
        ranker = ranker_for(scenario)
        if ranker.feedback_config is None:  # made by this closure's rankers(): the service's own
            ranker.feedback_config = feedback
        return ranker

    return made


def _make_recommender(config: PipelineConfig, catalog: Catalog, ranker_for: Any, interactions: Any) -> Recommender:
    """``config.make_recommender`` over the stored catalog and interactions."""
    return config.make_recommender(catalog, ranker_for, interactions=interactions)


def call_recommend(recommender: Recommender, user: UserHistory, n: int, *, feedback: list[FeedbackRecord],
                   query: str | None, exclude: frozenset[str], user_id: str | None) -> Ranking:
    """``Recommender.recommend`` with the service's arguments."""
    return recommender.recommend(user, n, feedback=feedback, query=query, exclude=exclude, user_id=user_id)


def call_similar(recommender: Recommender, item_id: str, n: int, hidden: frozenset[str]) -> Ranking:
    """``Recommender.similar``, hidden items left out."""
    return recommender.similar(item_id, n, exclude=hidden)


__all__ = ["COUNTERS", "EmptyCatalogError", "EngineStats", "PipelineEngine", "ReadWriteLock", "call_recommend", "call_similar",
           "settle_heap"]
