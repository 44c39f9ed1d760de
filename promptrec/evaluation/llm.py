"""The LLM as a method of the harness: a :class:`promptrec.Ranker` behind the shared ``score`` interface.

Generate mode gives each candidate Borda points (``n`` for the first of ``n``, down to 1) from
``ranking.items[i].score``. The per-case diagnostics (the parse report's error classes, re-asks, tokens,
latency, cache hits) go into ``Scored.info`` for the report. The adapter is given a
:class:`~promptrec.evaluation.cases.Query`, which has no held-out item, and makes exactly one ``rank`` call
per query (the Ranker's own re-ask is label-agnostic).
"""

from __future__ import annotations

import functools
import logging
import time
import tomllib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from promptrec.backends import Backend
from promptrec.cache import CompletionCache
from promptrec.data import UserHistory
from promptrec.errors import PromptrecError
from promptrec.evaluation.baselines import Scored
from promptrec.evaluation.cases import EvalDataset, Query
from promptrec.ranker import Ranker
from promptrec.scenario import Scenario, Strategy, builtin_prompts_dir, load_scenario

if TYPE_CHECKING:
    from promptrec.config import PipelineConfig

logger = logging.getLogger(__name__)

@functools.cache
def domain_words() -> dict[str, dict[str, str]]:
    """The cross-domain prompts' words per domain: prompts/default/domains.toml (data, not code)."""
    with (builtin_prompts_dir() / "default" / "domains.toml").open("rb") as file:
        return tomllib.load(file)


def cross_domain_scenario(source: str, target_scenario: str, target: str | None = None) -> Scenario:
    """A scenario whose history speaks of ``source`` items (``books``...) and whose candidates are the target
    scenario's; attributes of both domains are shown. Its wording is prompts/default/cross_domain_user.j2 and
    the domains' words prompts/default/domains.toml."""
    words = domain_words()
    source_words = words.get(source, {})
    nouns, verb = source_words.get("nouns", f"{source} items"), source_words.get("verb", "chosen")
    target_words = words.get(target or "", {})
    target_nouns = (target_words["target_noun"], target_words["target_nouns"]) if "target_nouns" in target_words else None
    spec = (
        f'extends = "{target_scenario}"\n'
        f'description = "Cold-start {target_scenario} from {nouns}"\n'
        'attributes = ["author", "artist", "year", "genres", "brand"]\n'
        f'history_item_nouns = "{nouns}"\nhistory_verb_past = "{verb}"\n'
        + (f'item_noun = "{target_nouns[0]}"\nitem_nouns = "{target_nouns[1]}"\n' if target_nouns else "")
    )
    user = '{% extends "builtin:default/cross_domain_user.j2" %}'
    return Scenario.from_strings(f"from_{source}_{target_scenario}", spec, {"user.j2": user})


def scenario_for(dataset: EvalDataset, prompts_dirs: Sequence[str] = ()) -> Scenario:
    """The dataset's scenario; for cross-domain data, one that names the source domain's items (unless
    ``prompts_dirs`` are given: then the target scenario is looked up there, so users can write their own)."""
    if dataset.protocol == "cross-domain" and dataset.source_domain and not prompts_dirs:
        return cross_domain_scenario(dataset.source_domain, dataset.scenario, dataset.target_domain)
    return load_scenario(dataset.scenario, prompts_dirs)


class LLMMethod:
    """Scores candidates with a :class:`Ranker` (generate mode: Borda points of the model's order).

    A backend failure that survives the Ranker's retries is not retried here: the case keeps the shown
    (shuffled) order as its scores and ``info["error"]`` says why; the report counts such cases.
    """

    def __init__(self, ranker: Ranker, name: str | None = None) -> None:
        self.ranker = ranker
        self.name = name or f"llm:{ranker.backend.name}:{ranker.strategy}"

    def score(self, query: Query) -> Scored:
        history = UserHistory.from_items(query.history, user_id=query.user_id)
        started = time.perf_counter()
        try:
            ranking = self.ranker.rank(history, list(query.candidates))
        except PromptrecError as exc:
            logger.warning("%s failed on %s: %s", self.name, query.case_id, exc)
            n = len(query.candidates)
            return Scored(
                {item.id: float(n - i) for i, item in enumerate(query.candidates)},
                {"error": f"{type(exc).__name__}: {exc}", "latency_s": time.perf_counter() - started},
            )
        latency = time.perf_counter() - started
        report = ranking.report
        info = {
            "format": report.format,
            "valid": report.valid,
            "hallucinated": len(report.hallucinated),
            "duplicates": len(report.duplicates),
            "history_items": len(report.history),
            "missing": len(report.missing),
            "reasks": report.reasks,
            "truncated": report.truncated,
            "input_tokens": ranking.usage.input_tokens,
            "output_tokens": ranking.usage.output_tokens,
            "latency_s": round(latency, 4),
            "cached": ranking.cached,
            "retries": ranking.retries,
            "history_used": ranking.history_used,
            "history_dropped": ranking.history_dropped,
            "raw": ranking.raw[:400],
        }
        return Scored({ranked.item.id: ranked.score for ranked in ranking.items}, info)


def model_label(backend: Backend) -> str:
    """A short model name for tables: the backend name without its kind and file suffix."""
    model = (backend.name.partition(":")[2] or backend.name).partition("@")[0]  # openai:MODEL@URL
    return model.rsplit("/", 1)[-1].removesuffix(".gguf")


def llm_factory(
    backend: Backend | str = "llamacpp",
    *,
    strategy: Strategy = "sequential",
    history: int = 20,
    seed: int = 0,
    temperature: float = 0.0,
    cache: CompletionCache | None = None,
    prompts_dirs: Sequence[str] = (),
    name: str | None = None,
    ranker_options: dict[str, Any] | None = None,
    **backend_options: Any,
) -> Callable[[EvalDataset], LLMMethod]:
    """A function dataset -> :class:`LLMMethod` with the dataset's scenario, sharing one backend.

    ``history`` is passed as the Ranker's ``max_history`` so the model is shown the same H items as the
    baselines (fewer only if the prompt would not fit the context; ``history_dropped`` counts those).
    ``ranker_options`` are further fields of the configuration's ``[ranker]`` section (e.g. ``mode="score"``,
    ``permutations=3``); they are named in the method's label. A shorthand for :func:`config_llm_factory`.
    """
    from promptrec.config import PipelineConfig, RankerSection

    extra = dict(ranker_options or {})
    unknown = sorted(set(extra) - set(RankerSection.model_fields))
    if unknown:
        raise ValueError(f"this promptrec Ranker does not take {', '.join(unknown)}")
    spec = backend if isinstance(backend, str) else "llamacpp"
    config = PipelineConfig.from_dict({
        "prompts": list(prompts_dirs),
        "backend": {"spec": spec, **(backend_options if isinstance(backend, str) else {})},
        "ranker": {"strategy": strategy, "max_history": history, "seed": seed, "temperature": temperature, **extra},
        "cache": {"enabled": False}, "feedback": {"enabled": False},
    })
    return config_llm_factory(config, backend=None if isinstance(backend, str) else backend, cache=cache, name=name)


#: ranker fields that do not name a method in tables (they are the protocol's, and the same for all)
_UNNAMED = ("strategy", "seed", "temperature", "max_history", "max_attempts")


def config_llm_factory(
    config: PipelineConfig,
    *,
    backend: Backend | None = None,
    cache: CompletionCache | None = None,
    name: str | None = None,
) -> Callable[[EvalDataset], LLMMethod]:
    """A function dataset -> :class:`LLMMethod` built from ``config`` (its backend, created now unless
    given, and its ``[ranker]`` options), with the dataset's scenario (:func:`scenario_for`, with the
    configuration's prompt folders). ``cache`` is shared by every dataset [default: the configuration's].
    The label names the strategy and the ranker options that differ from their defaults."""
    from promptrec.config import RankerSection

    model = backend if backend is not None else config.make_backend()
    shared = cache if cache is not None else config.make_cache()
    defaults = RankerSection()
    details = [config.ranker.strategy] + [
        f"{key}={value}" for key, value in config.ranker if key not in _UNNAMED and value != getattr(defaults, key)
    ]
    label = name or f"LLM {model_label(model)} ({', '.join(details)})"

    def make(dataset: EvalDataset) -> LLMMethod:
        ranker = config.make_ranker(scenario_for(dataset, config.prompts), backend=model, cache=shared)
        return LLMMethod(ranker, label)

    return make
