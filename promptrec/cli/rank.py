"""``promptrec rank``: recommend from a catalog for one user, or rank the candidates given."""

from __future__ import annotations

from typing import Any

import click

from promptrec.cli.common import (
    backend_options,
    data_options,
    load_catalog,
    pipeline_config,
    ranking_options,
    retrieval_options,
    split_ids,
    usage_or_failure,
)
from promptrec.cli.table import print_table
from promptrec.data import Catalog, Columns, Item, UserHistory, item_from_title, read_catalog, read_histories
from promptrec.errors import PromptrecError
from promptrec.progress import spinner
from promptrec.safe_output import dumps as safe_dumps
from promptrec.safe_output import terminal_text


def _check_user_has_feedback(user: str, config: Any) -> None:
    """``--user`` alone is a source only through the user's feedback in the store: refuse it when there is none."""
    if config.feedback.enabled:
        from promptrec.feedback_store import FeedbackStore

        if FeedbackStore(config.feedback.db).count(user) > 0:
            return
        where = "no feedback is stored for them"
    else:
        where = "feedback is off (--no-feedback)"
    raise click.UsageError(f"--user {user} gives no history: {where}; give --history, --history-title, --user-file "
                           f"or --query (or record feedback first: promptrec feedback add --user {user} ...)")


#: What each cold-start fallback means, for the notice on stderr.
FALLBACK_NOTES = {"popularity": "the most interacted-with items", "diverse": "a varied sample of the catalog",
                  "query": "the items closest to --query"}

#: Candidates taken from the whole catalog when none are given, at most (the pipeline retrieves instead).
MAX_IMPLICIT_CANDIDATES = 50


def _history(
    catalog: Catalog | None, ids: list[str], titles: tuple[str, ...], user_file: str | None, user: str | None,
    columns: Columns | None = None,
) -> UserHistory:
    if user_file:
        if not user:
            raise click.UsageError("--user-file needs --user ID")
        histories = read_histories(user_file, catalog, columns)
        if user not in histories:
            raise click.UsageError(f"user '{user}' is not in {user_file} ({len(histories)} users there)")
        history = histories[user]
    else:
        history = UserHistory(user_id=user or "anonymous")
    items = list(history.items)
    if ids:
        if catalog is None:
            raise click.UsageError("--history takes item ids from a catalog: add --catalog FILE (or --catalog demo)")
        items += catalog.lookup(ids)  # ids, or titles
    items += [item_from_title(title, catalog) for title in titles]
    return UserHistory.from_items(items, user_id=history.user_id)


def _candidates(catalog: Catalog | None, ids: list[str], file: str | None, history: UserHistory,
                columns: Columns | None = None) -> list[Item]:
    if file:
        return list(read_catalog(file, columns).values())
    if ids:
        if catalog is None:
            raise click.UsageError("--candidates takes item ids from a catalog: add --catalog FILE")
        return catalog.resolve(ids)
    if catalog is None:
        raise click.UsageError("give candidates: --candidates IDS with --catalog, or --candidates-file FILE")
    seen = {item.id for item in history.items}
    remaining = [item for item_id, item in catalog.items() if item_id not in seen]
    if len(remaining) > MAX_IMPLICIT_CANDIDATES:
        raise click.UsageError(
            f"the catalog has {len(remaining)} items besides the history; choose at most "
            f"{MAX_IMPLICIT_CANDIDATES} with --candidates or --candidates-file"
        )
    return remaining



@click.command()
@click.option("--catalog", metavar="FILE|demo", help="Catalog (.jsonl or .csv); 'demo' is the bundled demo movies.")
@click.option("--history", "history_ids", multiple=True, metavar="IDS", help="History items, oldest first, comma-separated or repeated: item ids, or titles from the catalog.")
@click.option("--history-title", "history_titles", multiple=True, metavar="TITLE", help="A history item given by free-text title (repeatable).")
@click.option("--user-file", type=click.Path(dir_okay=False), help="Histories file (.jsonl or .csv) to take --user's history from.")
@click.option("--user", help="User id: their feedback in the store shapes the ranking (liked items join the history, rejected ones are demoted or removed), and their history comes from --user-file if given.")
@click.option("--exclude", "exclude_ids", multiple=True, metavar="IDS", help="Items never to recommend (besides the history), comma-separated or repeated.")
@click.option("--query", help="The user's interests in their own words (e.g. \"slow-burn sci-fi with a twist\"), embedded by the semantic retriever; combines with a history, and stands in for one.")
@click.option("--candidates", "candidate_ids", multiple=True, metavar="IDS", help="Candidate ids from the catalog [default: every catalog item not in the history].")
@click.option("--candidates-file", type=click.Path(dir_okay=False), help="Candidates as a catalog file (.jsonl or .csv).")
@click.option("-k", "--top", "k", type=click.IntRange(min=1), help="Show only the top K.")
@retrieval_options
@data_options
@click.option("--scores", "show_scores", is_flag=True, help="Show each stage's score (retrieval, feedback, LLM, fused) in the table.")
@click.option("--why", "show_reasons", is_flag=True, help="Show why each item is recommended.")
@ranking_options
@backend_options
@click.option("--show-prompt", is_flag=True, help="Print the rendered prompt to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole Ranking as JSON.")
def rank(
    catalog: str | None,
    history_ids: tuple[str, ...],
    history_titles: tuple[str, ...],
    user_file: str | None,
    user: str | None,
    exclude_ids: tuple[str, ...],
    query: str | None,
    candidate_ids: tuple[str, ...],
    candidates_file: str | None,
    k: int | None,
    show_scores: bool,
    show_reasons: bool,
    show_prompt: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Recommend items from a catalog for one user, or rank the candidates you give.

    Without --candidates the pipeline runs: a retriever scores the whole catalog, the user's feedback
    (--user) moves what they liked up and what they rejected down, the best --pool items are kept, the LLM
    ranks them, and the two scores are fused with --llm-weight. With no usable history it falls back to
    --query, else to popularity (with --interactions), else to a diverse sample, and says which.

    \b
    Examples:
      promptrec rank --catalog demo --history m01,m03,m04 -k 5
      promptrec rank --catalog demo --history m01,m03,m04 -k 5 --user u9 --why
      promptrec rank --catalog demo --query "animated family film" -k 3
      promptrec rank --catalog movies.csv --interactions ratings.csv --history 1,2,3 -k 10
      promptrec rank --catalog items.jsonl --user-file users.jsonl --user u42 --candidates i1,i2,i3
      promptrec rank --catalog demo --history-title "The Matrix" \\
          --backend openai:gpt-4o-mini --json
    """
    if candidate_ids and candidates_file:
        raise click.UsageError("give --candidates IDS or --candidates-file FILE, not both")
    try:
        config = pipeline_config(options, catalog)
        columns = config.data.columns()
        if user and not (history_ids or history_titles or user_file or query):
            _check_user_has_feedback(user, config)
        items = load_catalog(catalog, columns)
        history = _history(items, split_ids(history_ids), history_titles, user_file, user, columns)
        ranker_for = config.rankers()
        if candidate_ids or candidates_file:
            candidates = _candidates(items, split_ids(candidate_ids), candidates_file, history, columns)
            with spinner(f"ranking {len(candidates)} candidates with {config.backend.spec}"):
                result = ranker_for(None).rank(history, candidates, k=k)
        else:
            if items is None:
                raise click.UsageError("give --catalog FILE to recommend from (or --candidates-file FILE to rank)")
            with spinner("retrieving from the catalog (an index is built on first use) and ranking"):
                result = config.make_recommender(items, ranker_for).recommend(history, k, query=query,
                                                                              exclude=split_ids(exclude_ids))
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    if show_prompt:
        for message in result.prompt:
            click.echo(f"--- {message['role']} ---\n{message['content']}", err=True)
        click.echo(f"--- answer ---\n{terminal_text(result.raw)}\n", err=True)
    if as_json:  # valid JSON (NaN as null) with no secret in it; titles verbatim
        click.echo(safe_dumps(result.model_dump(mode="json"), indent=2))
    else:
        print_table(result, show_scores, show_reasons)
    if k is not None and len(result.items) < k:
        if result.pool is not None:
            more = f"the pool is {result.pool} items: --pool {k} retrieves more"
        else:
            more = f"there were {len(result.items)} candidates"
        click.echo(f"note: -k {k} asked for more than the {len(result.items)} items this ranking has ({more})", err=True)
    if result.fallback is not None:
        click.echo(f"note: no usable history, so these are the '{result.fallback}' fallback ("
                   f"{FALLBACK_NOTES[result.fallback]}); give --history, --query or feedback for your own", err=True)

