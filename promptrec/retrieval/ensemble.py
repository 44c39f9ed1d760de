"""Several retrievers as one: the union of their pools, fused by reciprocal rank or by weight.

Each member retrieves its own top ``depth`` (default: the pool size asked for), history removed. Then:

* ``fusion="rrf"`` (default): ``score(x) = sum_i w_i / (RRF_K + rank_i(x))`` over the members whose pool
  holds ``x`` (rank from 1), Cormack et al.'s reciprocal-rank fusion, which needs no score scale;
* ``fusion="weighted"``: ``score(x) = sum_i w_i * (s_i(x) - low_i) / (high_i - low_i)`` over the members
  whose pool holds ``x``, where ``high_i`` and ``low_i`` are the best and the worst score in member ``i``'s
  pool; the last of a pool gets ``1e-6`` rather than 0, so that it still comes before unpooled items.

Items in no member's pool score 0 and come after every pooled item (ties by catalog position).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from promptrec.data import Catalog, Item
from promptrec.errors import DataError
from promptrec.retrieval.base import (
    DEFAULT_POOL,
    BaseRetriever,
    Retrieved,
    Retriever,
    User,
    catalog_fingerprint,
    positions,
)

EnsembleFusion = Literal["rrf", "weighted"]
RRF_K = 60
_FLOOR = 1e-6  # what the last item of a pool gets in weighted fusion (unpooled items get 0)


class EnsembleRetriever(BaseRetriever):
    """The union of several retrievers' pools, fused (see the module docstring).

    Args:
        retrievers: the members; they must share one catalog (the same content).
        fusion: ``rrf`` or ``weighted``.
        weights: one weight per member (default: all 1).
        depth: how many items each member contributes (default: the pool size asked for).
    """

    name = "ensemble"

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        *,
        fusion: EnsembleFusion = "rrf",
        weights: Sequence[float] | None = None,
        depth: int | None = None,
    ) -> None:
        if not retrievers:
            raise ValueError("an ensemble needs at least one retriever")
        catalog: Catalog = retrievers[0].catalog
        for other in retrievers[1:]:
            if other.catalog is not catalog and catalog_fingerprint(other.catalog) != catalog_fingerprint(catalog):
                raise DataError(f"ensemble members index different catalogs ({retrievers[0].name}, {other.name})")
        super().__init__(catalog, cache=False)
        if fusion not in ("rrf", "weighted"):
            raise ValueError(f"unknown ensemble fusion '{fusion}'; use 'rrf' or 'weighted'")
        self.retrievers = list(retrievers)
        self.weights = [1.0] * len(retrievers) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.retrievers):
            raise ValueError(f"{len(self.weights)} weights for {len(self.retrievers)} retrievers")
        self.fusion: EnsembleFusion = fusion
        self.depth = depth
        self.name = "+".join(r.name for r in self.retrievers)

    def build(self) -> EnsembleRetriever:
        for member in self.retrievers:
            build = getattr(member, "build", None)
            if build is not None:
                build()
        return self

    def add_items(self, items: Sequence[Item]) -> None:
        """Every member's :meth:`~promptrec.retrieval.base.BaseRetriever.add_items`, then the ensemble's own
        catalog (the members' grown one)."""
        for member in self.retrievers:
            member.add_items(items)  # type: ignore[attr-defined]
        self.catalog = self.retrievers[0].catalog
        self._items = list(self.catalog.values())
        self._where = positions(self.catalog)

    def add_interactions(self, user_id: str, item_ids: Iterable[str]) -> None:
        """Every member's ``add_interactions`` (members that do not use interactions ignore it)."""
        item_ids = list(item_ids)
        for member in self.retrievers:
            member.add_interactions(user_id, item_ids)  # type: ignore[attr-defined]

    def pools(self, user: User, n: int = DEFAULT_POOL, *, exclude: Iterable[str] = ()) -> list[Retrieved]:
        """Every member's pool of ``depth`` (or ``n``) items."""
        exclude = list(exclude)
        return [member.retrieve(user, self.depth or n, exclude=exclude) for member in self.retrievers]

    def merged(self, pools: Sequence[Retrieved]) -> np.ndarray:
        """The fused score vector over the catalog for the members' ``pools``."""
        scores = np.zeros(len(self._items), dtype=np.float64)
        for weight, pool in zip(self.weights, pools):
            where = np.fromiter((self._where[i] for i in pool.ids()), dtype=np.int64, count=len(pool))
            if self.fusion == "rrf":
                scores[where] += weight / (RRF_K + np.arange(1, len(pool) + 1))
            else:
                values = np.asarray(pool.scores, dtype=np.float64)
                span = values.max() - values.min() if len(values) else 0.0
                norm = (values - values.min()) / span if span > 0 else np.ones(len(values))
                scores[where] += weight * (_FLOOR + (1 - _FLOOR) * norm)
        return scores

    def scores(self, user: User) -> np.ndarray:
        """Fused scores over the catalog for pools of :data:`DEFAULT_POOL` (or ``depth``) items."""
        return self.merged(self.pools(user)).astype(np.float32)

    def retrieve(self, user: User, n: int = DEFAULT_POOL, *, exclude: Iterable[str] = ()) -> Retrieved:
        exclude = list(exclude)
        pools = self.pools(user, n, exclude=exclude)
        profiles = [p.profile for p in pools if p.profile]
        result = self._select(self.merged(pools), user, n, exclude, profile=profiles[0] if profiles else None,
                              info={"members": {p.retriever: len(p) for p in pools}})
        return result
