"""Short reasons for recommendations, from the retrieval and feedback attribution (no LLM call).

>>> reason(item, Source(alien, liked=True), "cooccurrence")
'because you liked Alien: Horror, Sci-Fi; often chosen together'

The source is the history or liked item that contributed most to the recommended item's retrieval score; the
shared attribute values (genres, author, brand...) come from both items' attributes; the last part says how
the retriever relates them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from promptrec.data import Item

#: How each retriever relates a source to what it recommends (an ensemble names its members).
RELATIONS: dict[str, str] = {
    "cooccurrence": "often chosen together",
    "semantic": "close in content",
    "bm25": "shares its words",
    "popularity": "popular with everyone",
}
FALLBACK_REASONS: dict[str, str] = {
    "popularity": "popular with everyone",
    "diverse": "a varied pick to start from",
}
MAX_SHARED = 3


@dataclass(frozen=True)
class Source:
    """The history or feedback item a recommendation is attributed to."""

    item: Item
    liked: bool = False


def shared_attributes(a: Item, b: Item, limit: int = MAX_SHARED) -> list[str]:
    """Attribute values both items have (list values such as genres, and equal short strings), sorted."""
    return sorted(_values(a) & _values(b))[:limit]


def relation(retriever: str) -> str:
    """The words for how ``retriever`` (a name such as ``semantic``, ``bm25+semantic``, ``profile:bm25``)
    relates items."""
    names = retriever.removeprefix("profile:").split("+")
    words = [RELATIONS[name] for name in names if name in RELATIONS]
    return " and ".join(dict.fromkeys(words)) or "recommended"


def reason(item: Item, source: Source | None, retriever: str, *, query: str | None = None,
           fallback: str | None = None, llm_rank: int | None = None) -> str:
    """One line saying why ``item`` is recommended (see the module docstring)."""
    parts: list[str] = []
    if source is not None:
        verb = "because you liked" if source.liked else "like"
        shared = shared_attributes(item, source.item)
        parts.append(f"{verb} {source.item.title}" + (f": {', '.join(shared)}" if shared else ""))
        parts.append(relation(retriever))
    elif fallback in FALLBACK_REASONS:
        parts.append(FALLBACK_REASONS[fallback])
    if query:
        parts.append(f"matches \u201c{_short(query)}\u201d")
    if not parts:
        parts.append(relation(retriever))
    if llm_rank is not None:
        parts.append(f"the LLM ranked it #{llm_rank}")
    return "; ".join(parts)


def _values(item: Item) -> set[str]:
    found: set[str] = set()
    for key, value in item.attributes.items():
        if key in ("year", "id", "title", "description"):
            continue
        for entry in _flatten(value):
            if 0 < len(entry) <= 40:
                found.add(entry)
    return found


def _flatten(value: object) -> Iterable[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [part.strip() for part in value.split("|") if part.strip()]
    return []


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


__all__ = ["FALLBACK_REASONS", "RELATIONS", "Source", "reason", "relation", "shared_attributes"]
