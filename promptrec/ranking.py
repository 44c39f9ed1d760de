"""The result of ranking: an immutable ranked list with everything needed to audit it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promptrec.backends.base import Message, Usage
from promptrec.data import Item

AnswerFormat = Literal[
    "json", "code", "table", "ranks", "arrow", "headings", "list", "labels", "titles", "scores", "none"
]


class ParseReport(BaseModel):
    """What the parser found in a model's answer and what it had to repair (RecLM-eval's error classes).

    ``valid`` counts the distinct candidates the answer named, in the order it named them, before repair;
    ``duplicates``, ``hallucinated`` (neither a candidate label nor a candidate title) and ``history`` (an item
    the user already has) were dropped; ``missing`` candidates were appended in the fallback order. In score
    mode the format is ``scores`` and ``floored`` counts labels that an API's top log-probabilities left out.
    ``structured`` names the structured-output dialect the server held the answer to (``json_schema``,
    ``json_object``, ...), ``None`` for free text or a grammar.
    """

    model_config = ConfigDict(frozen=True)

    format: AnswerFormat = "none"
    valid: int = 0
    duplicates: list[str] = Field(default_factory=list)
    hallucinated: list[str] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    stripped_reasoning: bool = False
    truncated: bool = False
    reasks: int = 0
    floored: int = 0
    structured: str | None = None

    @property
    def usable(self) -> bool:
        """True when the answer named at least one candidate."""
        return self.valid > 0

    @property
    def repaired(self) -> bool:
        """True when anything was dropped or appended to make a valid permutation."""
        return bool(self.duplicates or self.hallucinated or self.history or self.missing)


class RankedItem(BaseModel):
    """One candidate in a ranking: its 1-based rank, the label it had in the prompt and its score.

    In ``generate`` mode the score is Borda points (``n`` for the first of ``n`` candidates, down to 1); in
    ``score`` mode it is the log-probability of the candidate's label among the candidates' labels (the mean
    over passes, which cancels a position bias that adds the same amount at each position).

    From the pipeline (:class:`promptrec.pipeline.Recommender`) each stage's score is kept: ``retrieval_score``
    (the retriever's, its own scale) and ``retrieval_rank`` (1-based, in the retrieved pool), ``llm_score``
    (the ranker's score as above; ``None`` when the LLM was not asked) and ``fused_score`` (what the order
    comes from); ``score`` is then the fused score. Outside the pipeline these fields are ``None``.
    ``feedback_score`` is what the user's feedback added to the retrieval score (liked items' neighbours up,
    rejected items' neighbours and items shown without a reaction down; ``None`` without feedback), and
    ``reason`` a short line saying why the item is recommended (:mod:`promptrec.reasons`).
    """

    model_config = ConfigDict(frozen=True)

    item: Item
    rank: int
    label: str
    score: float
    retrieval_score: float | None = None
    retrieval_rank: int | None = None
    llm_score: float | None = None
    fused_score: float | None = None
    feedback_score: float | None = None
    reason: str = ""


class Ranking(BaseModel):
    """A ranked list of candidates with the raw answer, the parse report, the cost and the prompt.

    From the pipeline it also says how the candidates were found and fused: ``retriever`` (its name),
    ``profile`` (the interest profile the query was made from, if any), ``pool`` (how many items were
    retrieved and ranked), ``llm_weight`` (the weight on the LLM's score in the fusion; 0 = the retriever's
    order) and ``fusion`` (``wsum`` or ``rrf``). Outside the pipeline these are ``None``.
    ``fallback`` names the cold-start strategy used when the user had no usable history
    (:mod:`promptrec.coldstart`), ``query`` the free-text interests given, and ``feedback`` what the feedback
    stage did (``liked``, ``rejected``, ``rejected_mode``, ``skipped_unknown``).
    """

    model_config = ConfigDict(frozen=True)

    items: list[RankedItem]
    user_id: str
    raw: str
    report: ParseReport
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False
    retries: int = 0
    backend: str
    scenario: str
    strategy: str
    mode: str = "generate"
    passes: int = 1
    history_used: int = 0
    history_dropped: int = 0
    feedback_examples: int = 0
    feedback_cut: int = 0
    demoted: list[str] = Field(default_factory=list)
    prompt: list[Message] = Field(default_factory=list)
    retriever: str | None = None
    profile: str | None = None
    pool: int | None = None
    llm_weight: float | None = None
    fusion: str | None = None
    fallback: str | None = None
    query: str | None = None
    feedback: dict[str, Any] | None = None

    def ids(self, k: int | None = None) -> list[str]:
        """The item ids, best first; the top ``k`` only when ``k`` is given."""
        return [ranked.item.id for ranked in self.items[:k]]

    def top(self, k: int | None = None) -> list[RankedItem]:
        """The ranked items, best first; the top ``k`` only when ``k`` is given."""
        return list(self.items[:k])

    def __iter__(self) -> Iterator[RankedItem]:  # type: ignore[override]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
    def to_records(self, attributes: bool = False) -> list[dict[str, Any]]:
        """One plain dict per ranked item, best first: ``user_id``, ``rank``, ``item_id``, ``title``, ``score``,
        ``label`` and every stage's score the pipeline kept (``retrieval_score``, ``retrieval_rank``,
        ``llm_score``, ``fused_score``, ... ``None`` where a stage did not run); with ``attributes``, the
        item's attributes too (as ``attr_<name>``)."""
        stages = [name for name in RankedItem.model_fields if name not in ("item", "rank", "label", "score")]
        records = []
        for ranked in self.items:
            record: dict[str, Any] = {"user_id": self.user_id, "rank": ranked.rank, "item_id": ranked.item.id,
                                      "title": ranked.item.title, "score": ranked.score, "label": ranked.label}
            record.update({name: getattr(ranked, name) for name in stages})
            if attributes:
                record.update({f"attr_{key}": value for key, value in ranked.item.attributes.items()})
            records.append(record)
        return records

    def to_pandas(self, attributes: bool = False) -> Any:
        """The ranking as a pandas DataFrame, one row per item (the columns of :meth:`to_records`)."""
        try:
            import pandas
        except ImportError:
            from promptrec.errors import MissingDependencyError

            raise MissingDependencyError("pandas", "pandas") from None
        columns = ["user_id", "rank", "item_id", "title", "score", "label",
                   *(name for name in RankedItem.model_fields if name not in ("item", "rank", "label", "score"))]
        return pandas.DataFrame(self.to_records(attributes), columns=None if attributes else columns)

