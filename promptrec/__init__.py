"""promptrec: zero-shot recommendation by prompting an LLM.

>>> from promptrec import Ranker, Item, read_catalog
>>> ranker = Ranker("llamacpp", "movies")            # the bundled SmolLM2 model, the movies scenario
>>> ranking = ranker.rank(history_items, candidate_items, k=5)
>>> ranking.ids(), ranking.report

>>> config = PipelineConfig.load("run.toml")         # or PipelineConfig.from_dict({...}): the whole pipeline
>>> config.make_recommender(catalog).recommend(history, k=10)

Only light modules load here; llama-cpp-python and openai load when their backend is created.
"""

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
from promptrec.data import Catalog, Interaction, Item, UserHistory, read_catalog, read_histories
from promptrec.errors import (
    BackendError,
    ContextOverflowError,
    DataError,
    MissingDependencyError,
    PromptrecError,
    ScenarioError,
    UnknownBackendError,
)
from promptrec.feedback import FeedbackConfig
from promptrec.feedback_store import FeedbackStore
from promptrec.parsing import parse_ranking
from promptrec.ranker import Ranker
from promptrec.ranking import ParseReport, RankedItem, Ranking
from promptrec.scenario import Scenario, available_scenarios, load_scenario

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendError",
    "BackendOptions",
    "BaseBackend",
    "Catalog",
    "Completion",
    "CompletionCache",
    "ConfigError",
    "ContextOverflowError",
    "DataError",
    "FeedbackConfig",
    "FeedbackStore",
    "GenerationParams",
    "Interaction",
    "Item",
    "Message",
    "MissingDependencyError",
    "ParseReport",
    "PipelineConfig",
    "PromptrecError",
    "RankedItem",
    "Ranker",
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
    "register_backend",
]
