"""promptrec: zero-shot recommendation by prompting an LLM.

>>> from promptrec import Catalog, Recommender, Ranker, Item, read_catalog
>>> catalog = Catalog.from_pandas(df)                # or read_catalog("items.csv", Columns(id="movieId"))
>>> recommender = PipelineConfig().make_recommender(catalog)
>>> recommender.recommend(catalog.history(["Alien", "m04"]), k=5).to_pandas()

>>> ranker = Ranker("llamacpp", "movies")            # the bundled SmolLM2 model, the movies scenario
>>> ranking = ranker.rank(history_items, candidate_items, k=5)
>>> ranking.ids(), ranking.report

>>> config = PipelineConfig.load("run.toml")         # or PipelineConfig.from_dict({...}): the whole pipeline
>>> config.make_recommender(catalog).recommend(history, k=10)

Only light modules load here; llama-cpp-python and openai load when their backend is created, and the
pipeline (``Recommender``, which brings numpy and the retrievers) and ``recommend_many`` (pandas) when
they are first named.
"""

from typing import TYPE_CHECKING

from promptrec.backends import (
    Backend,
    BackendOptions,
    BaseBackend,
    Completion,
    GenerationParams,
    Message,
    Usage,
    get_backend,
    register_backend,
)
from promptrec.cache import CompletionCache
from promptrec.config import ConfigError, PipelineConfig
from promptrec.data import Catalog, Columns, Interaction, Item, UserHistory, read_catalog, read_histories
from promptrec.errors import (
    BackendError,
    ContextOverflowError,
    DataError,
    MissingDependencyError,
    OptionError,
    PromptrecError,
    ScenarioError,
    UnknownBackendError,
)
from promptrec.feedback import FeedbackConfig
from promptrec.feedback_store import FeedbackStore
from promptrec.lazy import lazy_exports
from promptrec.models import ModelNotFoundError
from promptrec.parsing import parse_ranking
from promptrec.ranker import Ranker
from promptrec.ranking import ParseReport, RankedItem, Ranking
from promptrec.scenario import Scenario, available_scenarios, load_scenario

if TYPE_CHECKING:
    from promptrec.frames import recommend_many
    from promptrec.pipeline import Recommender
    from promptrec.retrieval.base import EmptyPoolError

__version__ = "0.1.0"

#: names loaded on first use (heavier modules): name -> module
_LAZY = {"Recommender": "promptrec.pipeline", "recommend_many": "promptrec.frames",
         "EmptyPoolError": "promptrec.retrieval.base"}


__all__ = [
    "Backend",
    "BackendError",
    "BackendOptions",
    "BaseBackend",
    "Catalog",
    "Columns",
    "Completion",
    "CompletionCache",
    "ConfigError",
    "ContextOverflowError",
    "DataError",
    "EmptyPoolError",
    "FeedbackConfig",
    "FeedbackStore",
    "GenerationParams",
    "Interaction",
    "Item",
    "Message",
    "MissingDependencyError",
    "ModelNotFoundError",
    "OptionError",
    "ParseReport",
    "PipelineConfig",
    "PromptrecError",
    "RankedItem",
    "Ranker",
    "Recommender",
    "Ranking",
    "Scenario",
    "ScenarioError",
    "UnknownBackendError",
    "Usage",
    "UserHistory",
    "available_scenarios",
    "get_backend",
    "load_scenario",
    "parse_ranking",
    "read_catalog",
    "read_histories",
    "recommend_many",
    "register_backend",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
