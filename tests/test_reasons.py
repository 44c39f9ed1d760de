"""Reasons from the retrieval and feedback attribution."""

from promptrec.data import Item
from promptrec.reasons import Source, reason, relation, shared_attributes

ALIEN = Item(id="m03", title="Alien", attributes={"genres": ["Horror", "Sci-Fi"], "year": 1979})
ALIENS = Item(id="m11", title="Aliens", attributes={"genres": ["Action", "Horror", "Sci-Fi"], "year": 1986})


def test_a_liked_source_with_shared_genres_and_the_retrievers_relation():
    text = reason(ALIENS, Source(ALIEN, liked=True), "cooccurrence")
    assert text == "because you liked Alien: Horror, Sci-Fi; often chosen together"


def test_a_history_source_a_query_and_the_llm_rank():
    text = reason(ALIENS, Source(ALIEN), "bm25+semantic", query="space  horror", llm_rank=2)
    assert text == "like Alien: Horror, Sci-Fi; shares its words and close in content; matches \u201cspace horror\u201d; the LLM ranked it #2"


def test_fallbacks_and_years_are_not_shared_attributes():
    assert reason(ALIENS, None, "semantic", fallback="diverse") == "a varied pick to start from"
    assert "1979" not in shared_attributes(ALIEN, ALIENS)
    assert relation("profile:semantic") == "close in content" and relation("unknown") == "recommended"
