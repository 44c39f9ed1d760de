"""Shared fixtures: the real bundled model, a real llama_cpp.server on 127.0.0.1, and a scripted fake."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_helpers import fixtures_root

from promptrec.backends.base import Completion, GenerationParams, Message, Usage, estimate_tokens
from promptrec.cli import demo_catalog_path
from promptrec.data import Catalog, read_catalog

#: the real datasets, where the evaluation finds them: $PROMPTREC_DATA, else ../shared/datasets beside the project
DATASETS = Path(os.environ.get("PROMPTREC_DATA") or Path(__file__).resolve().parents[2] / "shared" / "datasets")
#: the folders of DATASETS the real-data tests read
DATASET_FOLDERS = ("movielens-latest-small", "amazon-games-llmrank", "amazon-industrial-office-minionerec",
                   "amazon_books_cds_movies_recsys24", "bookcrossing-tallrec")
HAVE_DATASETS = all((DATASETS / folder).is_dir() for folder in DATASET_FOLDERS)
#: skips a test (or a module, as ``pytestmark``) where the real datasets are missing
needs_datasets = pytest.mark.skipif(not HAVE_DATASETS, reason=f"datasets not found at {DATASETS}")
#: the tiny synthetic datasets of the tests, generated (never committed) by fixtures_helpers.py
FIXTURES = fixtures_root()
TINYLENS = FIXTURES / "tinylens"  # MovieLens format: -d movielens:TINYLENS
TINYCROSS = FIXTURES / "tinycross"  # cross-domain format: -d crossdomain:TINYCROSS:books:movies

#: a scripted answer ranking 20 labelled candidates in reverse shown order
REVERSED = " > ".join(f"[{chr(65 + i)}]" for i in reversed(range(20)))


class ScriptedBackend:
    """A fake backend for unit tests of orchestration: answers from a script and records every request."""

    supports_grammar = False

    def __init__(self, answers: list[str], context_window: int | None = None, finish_reason: str = "stop"):
        self.answers = list(answers)
        self.requests: list[tuple[list[Message], GenerationParams]] = []
        self.name = "scripted:test"
        self.context_window = context_window
        self.finish_reason = finish_reason

    def count_tokens(self, messages: list[Message]) -> int:
        return estimate_tokens(messages)

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        self.requests.append((list(messages), params))
        text = self.answers.pop(0)
        return Completion(
            text=text,
            model=self.name,
            usage=Usage(input_tokens=self.count_tokens(messages), output_tokens=len(text) // 4),
            finish_reason=self.finish_reason,
        )


@pytest.fixture(scope="session")
def demo_catalog() -> Catalog:
    return read_catalog(demo_catalog_path())


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    from promptrec.backends.llamacpp import bundled_model_path

    return bundled_model_path()


@pytest.fixture(scope="session")
def llama_backend():
    """The real in-process llama.cpp backend on the bundled SmolLM2-135M-Instruct file."""
    from promptrec.backends import get_backend

    return get_backend("llamacpp", n_ctx=4096)


@pytest.fixture(scope="session")
def llama_server(bundled_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` serving the bundled model on 127.0.0.1; yields its base URL."""
    from promptrec.backends.local_server import serve_gguf

    with serve_gguf(bundled_model_path, log=tmp_path_factory.mktemp("server") / "server.log") as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path, monkeypatch):
    """Keep every test's completion cache out of the user's cache folder."""
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))


#: test modules that evaluate whole real catalogs: their semantic rows use wordllama (100x faster to build than
#: MiniLM, which each test's private cache would otherwise embed again); the MiniLM path is tested on its own
WORDLLAMA_MODULES = ("test_evaluation_", "test_cli_eval", "test_config", "test_reliability")


@pytest.fixture(autouse=True)
def _fast_embedder_for_whole_catalog_evaluations(request, monkeypatch):
    if request.module.__name__.startswith(WORDLLAMA_MODULES) and "PROMPTREC_EMBEDDER" not in os.environ:
        monkeypatch.setenv("PROMPTREC_EMBEDDER", "wordllama")


@pytest.fixture(autouse=True)
def _private_feedback_db(tmp_path, monkeypatch):
    """Keep every test's feedback store out of the user's data folder."""
    monkeypatch.setenv("PROMPTREC_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))


# ------------------------------------------------------------------ the retriever tests' data (test_retrieval_*.py)

MOVIELENS = DATASETS / "movielens-latest-small"


@pytest.fixture(scope="session")
def movielens():
    """ml-latest-small, read by promptrec's loader; skips where it is missing."""
    if not MOVIELENS.is_dir():
        pytest.skip(f"datasets not found at {MOVIELENS}")
    from promptrec.evaluation.datasets import load_movielens

    return load_movielens(MOVIELENS)


@pytest.fixture(scope="session")
def sliced():
    """The first SLICE movies of ml-latest-small (of the tinylens fixture where it is missing) and every
    user's training ratings of them."""
    from retrieval_helpers import SLICE

    from promptrec.evaluation.datasets import load_movielens

    movielens = load_movielens(MOVIELENS if MOVIELENS.is_dir() else TINYLENS)
    items = list(movielens.items.values())[:SLICE]
    catalog = Catalog(items)
    sequences = {
        record.user_id: [i for i in record.history if i in catalog] for record in movielens.test.records
    }
    sequences = {user: seq for user, seq in sequences.items() if seq}
    return catalog, sequences


@pytest.fixture(scope="session")
def index_cache(tmp_path_factory):
    from promptrec.retrieval import IndexCache

    return IndexCache(tmp_path_factory.mktemp("index"))
