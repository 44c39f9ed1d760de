"""One configuration for the whole pipeline: backend, scenario, ranker, cache, feedback and retrieval.

:class:`PipelineConfig` is what ``promptrec rank``, ``promptrec batch`` (locally and in each Ray actor) and
``promptrec eval`` build from, with one set of names. It reads from TOML or JSON (``--config FILE``) and
writes back to TOML, so a run can be repeated exactly; ``promptrec eval`` embeds it in its report.

An example file, and every key with its meaning and default, is in the generated reference
(:mod:`promptrec.config_reference`, docs/configuration.md).

>>> config = PipelineConfig.load("run.toml")
>>> ranker = config.make_ranker()                    # the backend is created here
>>> recommender = config.make_recommender(catalog)  # retrieval + the LLM, fused

Everything is checked when the configuration is made (names, ranges, the backend's own options model),
before any model loads.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from promptrec.backends import DEFAULT_BACKEND, Backend, check_backend_options, get_backend, options_model
from promptrec.data import MAX_JSON_DEPTH, json_depth, loads_json
from promptrec.errors import BackendError, OptionError, PromptrecError
from promptrec.safe_output import redact, redact_text, register_secret, register_url
from promptrec.scenario import STRATEGIES, Scenario, load_scenario

if TYPE_CHECKING:
    from promptrec.cache import CompletionCache
    from promptrec.data import Catalog, Columns
    from promptrec.feedback import FeedbackConfig
    from promptrec.pipeline import Recommender
    from promptrec.ranker import Ranker
    from promptrec.retrieval import Interactions, Retriever

logger = logging.getLogger(__name__)

#: ``scenario name or None -> Ranker`` (``None``: the configuration's own), as :func:`promptrec.batch.run_batch` takes it
RankerFor = Callable[[str | None], "Ranker"]


class ConfigError(PromptrecError, ValueError):
    """A configuration file or value is wrong; the message names the file (and line) and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``pool = true`` is refused: a bool is not a number (pydantic would read it as 1)."""
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation is not bool and bool not in getattr(annotation, "__args__", ()):
                raise ValueError(f"must be {'a number' if _numeric(annotation) else 'a value of its type'}, not {str(value).lower()}")
        return value


def _numeric(annotation: Any) -> bool:
    return annotation in (int, float) or any(arg in (int, float) for arg in getattr(annotation, "__args__", ()))


class BackendSection(BaseModel):
    """``spec`` (``kind[:model]``) and the backend's own options, checked by its options model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    spec: str = DEFAULT_BACKEND

    @property
    def options(self) -> dict[str, Any]:
        """The backend's options, as given (the keys besides ``spec``)."""
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _check_options(self) -> BackendSection:
        try:
            check_backend_options(self.spec, self.options)
        except BackendError as exc:
            raise ValueError(redact_text(str(exc))) from None
        fields = options_model(self.spec).model_fields
        for name, value in self.options.items():  # secrets are redacted from everything written from now on
            extra = fields[name].json_schema_extra if name in fields else None
            if isinstance(value, str) and (isinstance(extra, dict) and extra.get("secret")):
                register_secret(value)
            elif isinstance(value, str) and "://" in value:
                register_url(value)
        return self


class RankerSection(_Section):
    """How the LLM ranks (the :class:`~promptrec.ranker.Ranker`'s options)."""

    strategy: str = Field("sequential", description="LLMRank prompt strategy: " + ", ".join(STRATEGIES) + ".")
    mode: str = Field("generate", description="How the LLM ranks. generate: the model writes a ranked label list; score: one forward "
                      "pass, candidates ordered by their label's probability; pointwise: each candidate asked about "
                      "alone, scored by P(Yes) against P(No) (score and pointwise need log-probabilities).")
    constrained: bool | None = Field(None, description="Force a valid label list with a grammar or structured output "
                                     "[default: where the backend supports it].")
    shuffle: bool = Field(True, description="Show candidates in a seeded random order (against position bias).")
    seed: int = Field(0, description="Seed of the candidate shuffle and the model's sampling.")
    temperature: float = Field(0.0, ge=0.0, description="Sampling temperature of generated answers.")
    max_history: int | None = Field(None, ge=1, description="History items shown [default: the scenario's].")
    max_attempts: int = Field(5, ge=1, description="Tries per request for transient failures (429, 5xx, timeouts).")
    permutations: int = Field(1, ge=1, description="Passes in cyclically shifted candidate orders, aggregated "
                              "(against position bias).")
    calibrate: bool = Field(False, description="Score and pointwise modes: divide out the label prior of a "
                            "content-free prompt.")
    window: int | None = Field(None, ge=2, description="At most this many candidates per prompt; more go through "
                               "sliding windows.")
    stride: int | None = Field(None, ge=1, description="How far windows move [default: half a window].")
    reask: bool = Field(True, description="Ask once more when an answer names no candidate at all.")
    max_tokens: int | None = Field(None, ge=1, description="Answer tokens [default: the mode's].")

    @model_validator(mode="after")
    def _check(self) -> RankerSection:
        from promptrec.ranker import check_options

        check_options(strategy=self.strategy, mode=self.mode, calibrate=self.calibrate, permutations=self.permutations,
                      window=self.window, stride=self.stride, max_history=self.max_history)
        return self


class CacheSection(_Section):
    """The completion cache: ``dir`` [default: ``$PROMPTREC_CACHE_DIR`` or the user cache folder]."""

    enabled: bool = Field(True, description="Read and write the completion cache.")
    dir: str | None = Field(None, description="Completion cache folder [default: $PROMPTREC_CACHE_DIR or the user "
                            "cache folder].")


class FeedbackSection(_Section):
    """The user's feedback as in-context examples: ``db`` [default: ``$PROMPTREC_FEEDBACK_DB``]."""

    enabled: bool = Field(True, description="Use the feedback store (the feedback stage and the prompt's examples).")
    db: str | None = Field(None, description="Feedback store [default: $PROMPTREC_FEEDBACK_DB or the user data "
                           "folder].")
    examples: int = Field(3, ge=0, description="The user's feedback records shown in each prompt (0: none).")
    selection: Literal["recent", "similar"] = Field("recent", description="Most recent feedback, or the most "
                                                    "similar to the candidates, as the prompt's examples.")
    cross_scenario: bool = Field(False, description="Also show the user's feedback from other scenarios in prompts "
                                 "(the ranking signal applies in every scenario anyway).")
    rejected: Literal["demote", "remove", "keep"] = Field("demote", description="What happens to items the user "
                                                           "rejected: demote (below every other item), remove, keep.")


class RetrievalSection(_Section):
    """The first stage: which retriever fills the pool, how big it is, and how its scores meet the LLM's."""

    retriever: str = Field("auto", description="Without candidates: how the pool is retrieved from the catalog: "
                           "auto (cooccurrence with interactions, else semantic), popularity, cooccurrence, bm25, "
                           "semantic, profile (the LLM's interest profile as the query of semantic), profile-bm25, "
                           "or an ensemble such as bm25+semantic.")
    pool: int = Field(20, ge=1, description="Without candidates: items retrieved from the catalog for the LLM to "
                      "rank.")
    llm_weight: float | None = Field(None, ge=0.0, le=1.0, description="Without candidates: the weight of the LLM's "
                                     "scores against the retrieval scores (0: the retriever's order, no LLM call; "
                                     "1: the LLM's) [default: 0 on the bundled model, else 0.5].")
    fusion: Literal["wsum", "rrf"] = Field("wsum", description="Without candidates: wsum (weighted sum of min-max "
                                           "normalised scores) or rrf (reciprocal ranks).")
    interactions: str | None = Field(None, description="Without candidates: who interacted with what, for the "
                                     "popularity and co-occurrence retrievers (CSV user_id,item_id[,timestamp]"
                                     "[,rating] or MovieLens' ratings.csv; or a histories .jsonl).")


class DataSection(_Section):
    """Your data's column names (:class:`~promptrec.data.Columns`); unset: promptrec's usual names."""

    id_col: str | None = Field(None, description="the catalog's item id column [default: id, item_id, movieId or itemId]")
    title_col: str | None = Field(None, description="the catalog's title column [default: title]")
    text_cols: tuple[str, ...] | None = Field(None, description="the catalog columns kept as attributes, in order "
                                              "[default: every other column]")
    user_col: str | None = Field(None, description="the interactions' user id column [default: user_id or userId]")
    item_col: str | None = Field(None, description="the interactions' item id column [default: as the catalog's]")
    time_col: str | None = Field(None, description="the interactions' time column, seconds or ISO 8601 [default: timestamp]")
    rating_col: str | None = Field(None, description="the interactions' rating column [default: rating]")

    def columns(self) -> Columns:
        """These names as the readers take them."""
        from promptrec.data import Columns

        return Columns(id=self.id_col, title=self.title_col, text=self.text_cols, user=self.user_col,
                       item=self.item_col, time=self.time_col, rating=self.rating_col)


class BatchSection(_Section):
    """How ``promptrec batch`` runs its requests: in threads here or in Ray actors, and what it costs."""

    workers: int = Field(8, ge=1, description="Requests in flight at once; with --engine ray, in each actor (an "
                         "in-process llama.cpp model still answers one at a time).")
    engine: Literal["local", "ray"] = Field("local", description="local: threads in this process; ray: a pool of "
                                            "Ray actors (needs the 'ray' extra), which also reads INPUT as .parquet "
                                            "or from any filesystem Ray supports.")
    ray_address: str | None = Field(None, description="With --engine ray: the cluster to join ('auto': the one "
                                    "'ray start --head' runs here; 'ray://...': Ray Client) [default: start a "
                                    "private Ray on this machine].")
    actors: int = Field(2, ge=1, description="With --engine ray: actors in the pool; each builds its ranker once "
                        "(an in-process model loads once per actor).")
    cpus_per_actor: float = Field(1.0, ge=0.01, description="With --engine ray: CPUs Ray reserves per actor "
                                  "(fractions are fine for HTTP backends; give a llama.cpp actor its --threads).")
    price_in: float | None = Field(None, ge=0.0, allow_inf_nan=False,
                                   description="Price per million input tokens, for the cost estimate.")
    price_out: float | None = Field(None, ge=0.0, allow_inf_nan=False,
                                    description="Price per million output tokens, for the cost estimate.")
    unordered: bool = Field(False, description="Write each line as its request finishes, not in input order.")


class EvalSection(_Section):
    """What ``promptrec eval`` measures and how: the datasets, the protocols and their sizes, and the LLMs
    (each ``backends`` x ``strategies`` pair is one LLM, built from the rest of the configuration)."""

    datasets: tuple[str, ...] = Field(("movielens",), description="Datasets (repeatable): a short name, or "
                                      "FORMAT:PATH.")
    data_dir: str | None = Field(None, description="Folder of the named datasets [default: $PROMPTREC_DATA or "
                                 "../shared/datasets].")
    protocol: tuple[Literal["auto", "llmrank", "cross-domain", "pointwise", "full", "replay"], ...] = Field(
        ("auto",), description="Repeatable. auto: each dataset's own 20-candidate protocol (llmrank / "
        "cross-domain / pointwise: the same, checked); full: the whole catalog, retriever by retriever, the "
        "pool, the LLM reranking it and the fused pipeline; replay: the feedback loop, round by round.")
    rounds: int = Field(5, ge=1, description="Replay protocol: rounds of recommendations and answers per user.")
    replay_start: int = Field(5, ge=1, description="Replay protocol: the first ratings of each user the "
                              "recommender knows.")
    replay_k: int = Field(10, ge=1, description="Replay protocol: items shown each round.")
    pool: int = Field(20, ge=1, description="Full protocol: items the pool retriever passes to the LLM (N).")
    retrievers: tuple[str, ...] = Field((), description="Full protocol: retrievers to measure (repeatable) "
                                        "[default: popularity, cooccurrence, bm25, semantic; profile (semantic) "
                                        "and profile-bm25 need an LLM].")
    llm_users: int = Field(30, ge=0, description="Full protocol: test users the LLM rows are measured on (a "
                           "seeded subset).")
    llm_valid_users: int | None = Field(None, ge=0, description="Validation users the LLM is scored on and its "
                                        "fusion weight chosen on [default: full protocol llm_users; 20-candidate "
                                        "protocol all valid_users].")
    users: int = Field(200, ge=1, description="Test users sampled per dataset (records, for pointwise data).")
    valid_users: int = Field(200, ge=0, description="Validation users per dataset (priors, the pool retriever "
                             "and fusion weights are chosen on them).")
    force: bool = Field(False, description="Choose a fusion weight even on fewer than 100 validation users "
                        "(noisy; refused otherwise).")
    save_rankings: bool = Field(False, description="Write rankings.jsonl: each method's ranked ids per dataset, "
                                "protocol and test user (full protocol: what 'promptrec rank --config "
                                "OUT/config.toml' returns).")
    candidates: int = Field(20, ge=2, description="Candidates per case: the truth + N-1 negatives.")
    history: int = Field(20, ge=1, description="Most recent history items shown (H).")
    seed: int = Field(0, description="Seed of user samples, negatives, shuffles and the random baseline.")
    scenario: str | None = Field(None, description="Scenario for every dataset [default: the dataset's own].")
    backends: tuple[str, ...] = Field(("llamacpp",), description="kind:model (repeatable); 'llamacpp' is the "
                                      "bundled SmolLM2-135M model.")
    strategies: tuple[Literal[STRATEGIES], ...] = Field(  # type: ignore[valid-type]
        ("sequential",), description="LLMRank prompt strategy (repeatable).")
    temperature: float = Field(0.0, ge=0.0, description="The protocol's sampling temperature.")
    no_llm: bool = Field(False, description="Run the baselines only.")
    no_fusion: bool = Field(False, description="Skip the LLM + prior fusion rows.")


class PipelineConfig(_Section):
    """The whole pipeline's configuration; see the module docstring for the file format."""

    scenario: str | None = Field(None, description="Scenario name (see 'promptrec scenarios list') [default: movies "
                                 "with the demo catalog, else default].")
    prompts: tuple[str, ...] = Field((), description="Folders of your own scenarios; they override built-ins of the "
                                     "same name.")
    backend: BackendSection = BackendSection()
    ranker: RankerSection = RankerSection()
    cache: CacheSection = CacheSection()
    feedback: FeedbackSection = FeedbackSection()
    retrieval: RetrievalSection = RetrievalSection()
    data: DataSection = DataSection()
    batch: BatchSection = BatchSection()
    eval: EvalSection = EvalSection()

    # -- reading and writing ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "configuration", text: str | None = None) -> PipelineConfig:
        """Validate ``data``; errors name ``source`` (with the line where ``text`` shows it) and the field."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(_explain(exc, source, text)) from None
        except OptionError as exc:  # a rule across fields (ranker.check_options)
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> PipelineConfig:
        """Read a ``.toml`` or ``.json`` file."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(f"{path}:{line}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                              "save the configuration as UTF-8") from None
        try:
            data = loads_json(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep") from None
        except ValueError as exc:  # NaN, or nested too deeply (loads_json)
            raise ConfigError(f"{path}: invalid JSON: {exc}") from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ConfigError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a table of sections, not {type(data).__name__}")
        return cls.from_dict(data, str(path), text)

    def updated(self, changes: Mapping[str, Any], source: str = "options") -> PipelineConfig:
        """A copy with ``changes`` (nested like the file: ``{"ranker": {"mode": "score"}}``) applied and checked;
        a section's fields merge with the ones set, but a ``backend`` section replaces the old one (see
        :meth:`with_backend`). Errors name ``source``."""
        data = self.model_dump(exclude_unset=True)
        data["backend"] = self.backend.model_dump()
        for key, value in changes.items():
            if isinstance(value, Mapping) and isinstance(data.get(key), dict) and key != "backend":
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return type(self).from_dict(data, source)

    def with_backend(self, spec: str | None = None, options: Mapping[str, Any] | None = None, *,
                     lenient: bool = False, source: str = "options") -> PipelineConfig:
        """A copy with the backend ``spec`` [default: the same] and ``options`` on top of the current ones when
        the kind stays (a new kind starts from its own defaults). ``lenient`` drops options the backend does
        not take (for flags given to several backends at once) instead of refusing them."""
        spec = spec or self.backend.spec
        same_kind = spec.partition(":")[0].strip().lower() == self.backend.spec.partition(":")[0].strip().lower()
        given = {name: value for name, value in (options or {}).items() if value is not None}
        if lenient:
            given = {name: value for name, value in given.items() if name in options_model(spec).model_fields}
        return self.updated({"backend": {**(self.backend.options if same_kind else {}), **given, "spec": spec}}, source)

    def to_dict(self, secrets: bool = False) -> dict[str, Any]:
        """The configuration as plain data; options marked secret (an API key) are left out unless ``secrets``."""
        data = self.model_dump(mode="json")
        if not secrets:
            fields = options_model(self.backend.spec).model_fields
            for name in list(data["backend"]):
                extra = fields[name].json_schema_extra if name in fields else None
                if isinstance(extra, dict) and extra.get("secret"):
                    del data["backend"][name]
            data = redact(data)  # credentials in a base URL (user:pass@) too
        return data

    def to_toml(self, secrets: bool = False) -> str:
        """The configuration as a TOML file that :meth:`load` reads back to an equal configuration."""
        data = self.to_dict(secrets)
        lines = [f"{key} = {_toml_value(value)}" for key, value in data.items() if not isinstance(value, dict) and value is not None]
        for section, values in data.items():
            if isinstance(values, dict):
                lines += ["", f"[{section}]"]
                lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
        return "\n".join(lines) + "\n"

    # -- building ---------------------------------------------------------------------------------------

    def backend_options(self, **defaults: Any) -> dict[str, Any]:
        """The backend's options, with ``defaults`` for the ones it takes and the file leaves out (a seed)."""
        fields = options_model(self.backend.spec).model_fields
        given = self.backend.options
        return {**{k: v for k, v in defaults.items() if k in fields and given.get(k) is None}, **given}

    def make_backend(self) -> Backend:
        """Create the backend (a model loads here)."""
        return get_backend(self.backend.spec, **self.backend_options(seed=self.ranker.seed))

    def make_cache(self) -> CompletionCache | None:
        from promptrec.cache import CompletionCache

        return CompletionCache(self.cache.dir) if self.cache.enabled else None

    def make_feedback(self) -> FeedbackConfig | None:
        from promptrec.feedback import FeedbackConfig
        from promptrec.feedback_store import FeedbackStore

        section = self.feedback
        if not section.enabled:
            return None
        return FeedbackConfig(FeedbackStore(section.db), examples=section.examples, selection=section.selection,
                              cross_scenario=section.cross_scenario, rejected=section.rejected)

    def read_catalog(self, path: str | Path) -> Catalog:
        """Read a catalog file with the data section's column names."""
        from promptrec.data import read_catalog

        return read_catalog(path, self.data.columns())

    def load_scenario(self, name: str | None = None) -> Scenario:
        return load_scenario(name or self.scenario or "default", self.prompts)

    def make_ranker(self, scenario: Scenario | str | None = None, *, backend: Backend | None = None,
                    cache: CompletionCache | None = None, feedback: FeedbackConfig | None = None) -> Ranker:
        """A :class:`~promptrec.ranker.Ranker` with this configuration's ranker options, for ``scenario``
        [default: the configuration's]. The backend, cache and feedback store are made from the
        configuration unless given (:meth:`rankers` shares one of each between scenarios)."""
        from promptrec.ranker import Ranker
        from promptrec.retry import RetryPolicy

        options = self.ranker
        loaded = scenario if isinstance(scenario, Scenario) else self.load_scenario(scenario)
        return Ranker(
            backend if backend is not None else self.make_backend(), loaded, strategy=options.strategy, constrained=options.constrained,
            shuffle=options.shuffle, seed=options.seed, temperature=options.temperature,
            max_history=options.max_history, cache=cache if cache is not None else self.make_cache(),
            retry=RetryPolicy(attempts=options.max_attempts),
            feedback=feedback if feedback is not None else self.make_feedback(), mode=options.mode,
            permutations=options.permutations, calibrate=options.calibrate, window=options.window,
            stride=options.stride, reask=options.reask, max_tokens=options.max_tokens,
        )

    def rankers(self, backend: Backend | None = None) -> RankerFor:
        """``scenario -> Ranker``, made once per scenario, sharing one backend, cache and feedback store.

        The default scenario is loaded now (a typo fails before any model loads); the backend is created
        when the first ranker is asked for, unless ``backend`` is given."""
        self.load_scenario()
        backends: list[Backend] = [backend] if backend is not None else []
        cache, feedback = self.make_cache(), self.make_feedback()
        made: dict[str, Ranker] = {}
        lock = threading.Lock()  # batch workers ask at once: one backend (one model load), one ranker per scenario

        def ranker_for(scenario: str | None = None) -> Ranker:
            with lock:
                return made_ranker(scenario)

        def made_ranker(scenario: str | None) -> Ranker:
            name = scenario or self.scenario or "default"
            if name not in made:
                loaded = self.load_scenario(name)
                if not backends:
                    backends.append(self.make_backend())
                made[name] = self.make_ranker(loaded, backend=backends[0], cache=cache, feedback=feedback)
            return made[name]

        return ranker_for

    def make_retriever(self, catalog: Catalog, ranker: Callable[[], Ranker] | None = None,
                  interactions: Interactions | None = None) -> Retriever:
        """The retrieval section's retriever over ``catalog``. Its interactions file is read unless
        ``interactions`` are given; a profile retriever writes with ``ranker()``'s model and scenario."""
        from promptrec.retrieval import ProfileRetriever, read_interactions
        from promptrec.retrieval.factory import make_retriever

        def profile_writer(base: Retriever) -> Retriever:
            if ranker is None:
                raise ConfigError("the profile retriever needs a model: give the recommender a ranker")
            writer = ranker()
            return ProfileRetriever(base, writer.backend, writer.scenario, cache=writer.cache,
                                    feedback=writer.feedback_config)

        if interactions is None and self.retrieval.interactions:
            interactions = read_interactions(self.retrieval.interactions, catalog, self.data.columns())
        return make_retriever(self.retrieval.retriever, catalog, interactions=interactions,
                              profile_writer=profile_writer)

    def make_recommender(self, catalog: Catalog, ranker_for: RankerFor | None = None, *,
                         interactions: Interactions | None = None) -> Recommender:
        """The pipeline over ``catalog``: the retriever's pool, the feedback stage (the store of the feedback
        section, in every scenario), the LLM ranking it, and the fusion. ``interactions`` replace the retrieval
        section's file (an evaluation's training split).

        At ``llm_weight = 0`` (also the bundled model's measured default) no model is loaded."""
        from promptrec.retrieval import read_interactions

        rankers = ranker_for or self.rankers()
        if interactions is None and self.retrieval.interactions:
            interactions = read_interactions(self.retrieval.interactions, catalog, self.data.columns())
        retriever = self.make_retriever(catalog, lambda: rankers(None), interactions)
        return self.recommender(retriever, lambda: rankers(None), interactions=interactions)

    def llm_weight(self) -> float | None:
        """The retrieval section's LLM weight, or the bundled model's measured 0 when it is unset and the
        backend is the bundled model (``None``: the pipeline's default for the ranker's model)."""
        from promptrec.models import is_bundled
        from promptrec.pipeline import backend_llm_weight

        weight = self.retrieval.llm_weight
        if weight is None and is_bundled(self.backend.spec):
            return backend_llm_weight(self.backend.spec)
        return weight

    def recommender(self, retriever: Retriever, ranker: Callable[[], Ranker], *,
                    interactions: Interactions | None = None) -> Recommender:
        """The pipeline around ``retriever`` (the one builder of :class:`~promptrec.pipeline.Recommender`): the
        feedback stage from the feedback section, ``ranker()`` asked for only when the LLM weight is above 0,
        and the retrieval section's pool, weight and fusion."""
        from promptrec.feedback_store import FeedbackStore
        from promptrec.pipeline import Recommender

        weight = self.llm_weight()
        store = FeedbackStore(self.feedback.db) if self.feedback.enabled else None
        return Recommender(retriever, ranker() if weight != 0 else None, llm_weight=weight,
                           pool=self.retrieval.pool, fusion=self.retrieval.fusion, feedback_store=store,
                           rejected=self.feedback.rejected, interactions=interactions)


#: command-line flag -> backend option, for the flags every command that builds a backend has
BACKEND_FLAGS: dict[str, str] = {"base_url": "base_url", "api_key": "api_key", "structured": "structured",
                                 "n_ctx": "n_ctx", "threads": "n_threads"}


def parse_option_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    """``["timeout=30", "extra_buffers=off"]`` -> ``{"timeout": 30, "extra_buffers": "off"}`` (values as JSON,
    else as text)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"backend option '{pair}' is not KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


#: The prefix of the environment variables that set configuration fields: ``PROMPTREC_<SECTION>_<FIELD>``
#: (``PROMPTREC_RANKER_MODE=score``, ``PROMPTREC_RETRIEVAL_POOL=30``; ``PROMPTREC_CACHE_DIR`` and
#: ``PROMPTREC_FEEDBACK_DB`` are ``cache.dir`` and ``feedback.db``). Values are read as JSON, else as text.
ENV_PREFIX = "PROMPTREC_"


def environment_changes(environ: Mapping[str, str]) -> dict[str, Any]:
    """The configuration fields set by ``environ``'s ``PROMPTREC_<SECTION>_<FIELD>`` variables (nested like the
    file); variables that name no field (``PROMPTREC_DATA``, the data folder) are not configuration."""
    changes: dict[str, Any] = {}
    for name, model in PipelineConfig.model_fields.items():
        section = model.annotation
        if not (isinstance(section, type) and issubclass(section, BaseModel)) or name == "backend":
            continue
        for field in section.model_fields:
            raw = environ.get(f"{ENV_PREFIX}{name}_{field}".upper())
            if raw is None or raw == "":
                continue
            annotation = section.model_fields[field].annotation
            textual = annotation is str or str in typing.get_args(annotation) or typing.get_origin(annotation) is Literal
            try:
                value: Any = raw if textual else json.loads(raw)
            except ValueError:
                value = raw
            changes.setdefault(name, {})[field] = value
    return changes


def config_from_options(base: PipelineConfig, options: Mapping[str, Any], fields: Mapping[str, tuple[str | None, str]],
                        given: Callable[[str], bool], *, lenient: bool = False,
                        source: str = "command line") -> PipelineConfig:
    """``base`` with a command's options on top: ``fields`` maps option names to (section, field) (section
    ``None``: top level), and only options for which ``given(name)`` holds change anything. Also read:
    ``backend_spec``, the :data:`BACKEND_FLAGS`, ``backend_option_pairs`` (``KEY=VALUE``), ``no_cache``
    and ``no_feedback``; ``lenient`` as in :meth:`PipelineConfig.with_backend`."""
    changes: dict[str, Any] = {}
    for name, (section, field) in fields.items():
        if name in options and given(name):
            value = list(options[name]) if isinstance(options[name], tuple) else options[name]
            if section is None:
                changes[field] = value
            else:
                changes.setdefault(section, {})[field] = value
    if options.get("no_cache"):
        changes.setdefault("cache", {})["enabled"] = False
    if options.get("no_feedback"):
        changes.setdefault("feedback", {})["enabled"] = False
    spec = options["backend_spec"] if "backend_spec" in options and given("backend_spec") else None
    flags = {option: options[flag] for flag, option in BACKEND_FLAGS.items() if options.get(flag) is not None}
    flags.update(parse_option_pairs(options.get("backend_option_pairs") or ()))
    return base.updated(changes, source).with_backend(spec, flags, lenient=lenient, source=source)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")


def _line_of(text: str | None, loc: Sequence[Any]) -> int | None:
    """The line of ``loc`` (``("ranker", "mode")``) in a TOML or JSON ``text``: the key's line inside its
    section (``[ranker]`` or ``"ranker": {``), or ``None``."""
    if not text or not loc:
        return None
    lines = text.splitlines()
    start = 0
    section = re.compile(rf'^\s*(\[\s*{re.escape(str(loc[0]))}\s*\]|"{re.escape(str(loc[0]))}"\s*:)')
    start = next((i for i, line in enumerate(lines) if section.match(line)), -1)
    if len(loc) == 1 and start >= 0:
        return start + 1
    if len(loc) > 1 and start < 0:
        return None
    start = max(start, 0)
    key = re.compile(rf'^\s*"?{re.escape(str(loc[-1]))}"?\s*[=:]')
    return next((i + 1 for i in range(start, len(lines)) if key.match(lines[i])), None)


def _explain(exc: ValidationError, source: str, text: str | None) -> str:
    problems = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if not isinstance(part, int)]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, OptionError) and cause.option:  # a rule across fields names the one to change
            loc.append(cause.option)
        field = ".".join(str(part) for part in loc) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown option"
            if len(loc) == 1:
                message += f"; the sections are: {', '.join(PipelineConfig.model_fields)}"
        elif error["type"] == "literal_error":
            message = f"{error['input']!r} is not one of: {message.removeprefix('Input should be ')}"
        line = _line_of(text, loc)
        problems.append(f"{source}{f':{line}' if line else ''}: {field}: {message}")
    return "\n".join(problems)


__all__ = [
    "BACKEND_FLAGS", "BackendSection", "CacheSection", "ConfigError", "DataSection", "config_from_options", "parse_option_pairs", "FeedbackSection", "PipelineConfig", "RankerFor", "RankerSection",
    "RetrievalSection",
    "BatchSection",
    "EvalSection",
]
