"""The JSON the service takes and gives (the OpenAPI schema at /openapi.json is generated from these).

Inputs refuse what would corrupt the store or the pipeline, each with a message that names the field:
empty ids, NaN and infinite numbers (Python's JSON reader accepts ``NaN`` and ``Infinity``; these models do
not), ratings outside 0-5, unknown feedback labels and unknown fields.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from promptrec.ranking import RankedItem, Ranking

#: The feedback labels (as :class:`promptrec.feedback_store.FeedbackRecord` has them).
Label = Literal["liked", "disliked", "clicked", "skipped", "rating"]

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=10_000)


#: How deeply an item's attributes may nest (a genre list is 2 levels; this is far beyond any catalog).
MAX_DEPTH = 32


def _finite_json(value: Any, where: str = "attributes", depth: int = 0) -> Any:
    """``value`` when it is JSON with finite numbers only, nested at most :data:`MAX_DEPTH` levels; a
    ``ValueError`` naming the place otherwise."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where} nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} holds {value}; numbers must be finite")
    if isinstance(value, dict):
        for key, inner in value.items():
            _finite_json(inner, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _finite_json(inner, f"{where}[{index}]", depth + 1)
    return value


class ItemIn(_Input):
    """A catalog item to add or replace (POST /items): its id, title and free-form attributes."""

    id: Id
    title: Title
    attributes: dict[str, Any] = Field(default_factory=dict, description="genres, year, price...: any JSON")

    @field_validator("attributes")
    @classmethod
    def _finite(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _finite_json(value)


class ItemOut(BaseModel):
    """A stored catalog item; ``hidden`` items are never recommended (DELETE /items/{id} hides one)."""

    id: str
    title: str
    attributes: dict[str, Any]
    hidden: bool = False


class ItemsWritten(BaseModel):
    """What POST /items did."""

    upserted: int = Field(description="items added or replaced")
    catalog_version: int = Field(description="the catalog's change counter after the write")


class SessionFeedback(_Input):
    """One reaction in a session (POST /recommendations): no user, since the session has none stored."""

    item: Id
    label: Label
    rating: float | None = Field(None, ge=0, le=5, description="0-5, with label 'rating' only")
    timestamp: float | None = Field(None, ge=0, description="seconds since the epoch [default: now]")

    @model_validator(mode="after")
    def _rating_goes_with_its_label(self) -> SessionFeedback:
        if self.label == "rating" and self.rating is None:
            raise ValueError("label 'rating' needs a rating (0-5)")
        if self.label != "rating" and self.rating is not None:
            raise ValueError(f"a rating goes with label 'rating', not '{self.label}'")
        return self


class FeedbackIn(SessionFeedback):
    """One reaction of a stored user to a catalog item (POST /feedback)."""

    user: Id


class FeedbackOut(BaseModel):
    """A stored feedback record."""

    user: str
    item: str
    label: str
    rating: float | None
    timestamp: float


class FeedbackWritten(BaseModel):
    """What POST /feedback did."""

    added: int


class SessionRequest(_Input):
    """A recommendation for a session with no stored user (POST /recommendations)."""

    history: list[Id] = Field(default_factory=list, description="item ids, oldest first")
    feedback: list[SessionFeedback] = Field(default_factory=list)
    query: str | None = Field(None, description="free-text interests")
    n: int = Field(10, ge=1)


class Stages(BaseModel):
    """Each stage's score of a recommended item (``None`` where the stage did not run)."""

    retrieval: float | None = Field(description="the retriever's score (its own scale)")
    retrieval_rank: int | None = Field(description="1-based rank in the retrieved pool")
    feedback: float | None = Field(None, description="the feedback stage's adjustment")
    llm: float | None = Field(description="the LLM's score (None when its weight is 0: not asked)")
    fused: float | None = Field(description="what the order comes from")


class Recommended(BaseModel):
    """One recommended item: what it is, where it ranks, each stage's score and why."""

    id: str
    title: str
    rank: int
    score: float
    reason: str
    stages: Stages
    attributes: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_ranked(cls, ranked: RankedItem) -> Recommended:
        item = ranked.item
        return cls(
            id=item.id, title=item.title, rank=ranked.rank, score=ranked.score,
            reason=ranked.reason,
            attributes=item.attributes,
            stages=Stages(retrieval=ranked.retrieval_score, retrieval_rank=ranked.retrieval_rank,
                          feedback=ranked.feedback_score, llm=ranked.llm_score, fused=ranked.fused_score),
        )


class Recommendations(BaseModel):
    """A list of recommendations with how it was made."""

    user: str | None = None
    item: str | None = Field(None, description="the item the list is similar to (GET /items/{id}/similar)")
    items: list[Recommended]
    retriever: str | None = None
    llm_weight: float | None = None
    fallback: str | None = Field(None, description="the cold-start strategy used when there was no usable history")
    llm_asked: bool = False
    cached: bool = False

    @classmethod
    def from_ranking(cls, ranking: Ranking, *, user: str | None = None, item: str | None = None) -> Recommendations:
        return cls(user=user, item=item, items=[Recommended.from_ranked(r) for r in ranking.items],
                   retriever=ranking.retriever, llm_weight=ranking.llm_weight, fallback=ranking.fallback,
                   llm_asked=ranking.mode != "retrieval", cached=ranking.cached)


class Health(BaseModel):
    """GET /health."""

    status: Literal["ok"] = "ok"
    items: int = Field(description="catalog items the pipeline knows (hidden ones included)")
    database: str
    catalog_version: int
    incremental_index: bool = Field(description="catalog changes update the index in place (else: a lazy rebuild)")
    warm: bool = Field(description="the embedder of free-text queries is loaded (queries wait until it is)")


class Problem(BaseModel):
    """Every error: one line that says what was wrong and where."""

    detail: str


__all__ = ["FeedbackIn", "FeedbackOut", "FeedbackWritten", "Health", "ItemIn", "ItemOut", "ItemsWritten", "Label",
           "Problem", "Recommendations", "Recommended", "SessionFeedback", "SessionRequest", "Stages"]
