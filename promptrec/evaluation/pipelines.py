"""The shipped pipeline as the full-catalog protocol drives it: the files ``promptrec rank`` reads, and one
:class:`~promptrec.pipeline.Recommender` per retriever and split, built by
:meth:`PipelineConfig.make_recommender <promptrec.config.PipelineConfig.make_recommender>`.

For each dataset, :func:`write_pipeline_files` writes into a folder of the run (``data/<dataset>/``)::

    catalog.jsonl              the catalog the protocol ranks, in its order (ties go to the earlier item):
                               the target catalog; for cross-domain data every item of both domains (the
                               source-domain items are never recommended: they are excluded)
    interactions-test.jsonl    the training interactions of the test split, one line per training user
    interactions-valid.jsonl   those of the validation split
    histories-test.jsonl       the sampled test users' whole histories, oldest first (promptrec's format)
    histories-valid.jsonl      the sampled validation users'
    config.toml                the fused pipeline measured on the test users (written by the protocol)

and the protocol builds every retriever from a :class:`~promptrec.config.PipelineConfig` that names those
files, so that ::

    promptrec rank --config DIR/config.toml --catalog DIR/catalog.jsonl \\
        --user-file DIR/histories-test.jsonl --user USER -k N [--retriever NAME --llm-weight 0]

returns the ranking the evaluation scored for ``USER`` (``rankings.jsonl``). Nothing here reads a
held-out item.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from promptrec.data import Catalog, Item
from promptrec.errors import OptionError
from promptrec.evaluation.cases import EvalDataset
from promptrec.retrieval.factory import REGISTRY

if TYPE_CHECKING:
    from promptrec.config import PipelineConfig
    from promptrec.pipeline import Recommender
    from promptrec.ranker import Ranker

SPLITS = ("test", "valid")
#: the retrievers the full-catalog protocol may measure: every registered one
#: (:data:`promptrec.retrieval.factory.REGISTRY`); ``profile`` and ``profile-bm25`` write a profile with the LLM
RETRIEVER_CHOICES = tuple(REGISTRY)


def pipeline_catalog(dataset: EvalDataset) -> tuple[Catalog, frozenset[str]]:
    """The catalog the full-catalog protocol ranks, and the items never recommended: the target catalog
    (in the dataset's pool order); for cross-domain data every item, the source-domain ones excluded (so
    co-occurrence can link a source-domain history to target items)."""
    if dataset.protocol == "cross-domain":
        target = set(dataset.pool)
        items = list(dataset.items.values())
        return Catalog(items), frozenset(item.id for item in items if item.id not in target)
    return Catalog([dataset.items[i] for i in dataset.pool]), frozenset()


def _item_json(item: Item) -> str:
    return json.dumps({"id": item.id, "title": item.title, "attributes": dict(item.attributes)}, ensure_ascii=False)


@dataclass
class PipelineFiles:
    """The files of one dataset (module docstring) and the configuration every Recommender is built from."""

    folder: Path
    catalog: Catalog
    exclude: frozenset[str]
    base: PipelineConfig
    pool: int
    catalog_path: Path = field(init=False)
    interactions: dict[str, Path] = field(init=False)
    histories: dict[str, Path] = field(init=False)

    def __post_init__(self) -> None:
        self.catalog_path = self.folder / "catalog.jsonl"
        self.interactions = {split: self.folder / f"interactions-{split}.jsonl" for split in SPLITS}
        self.histories = {split: self.folder / f"histories-{split}.jsonl" for split in SPLITS}
        self._made: dict[tuple[str, str], Recommender] = {}

    def config(self, retriever: str, split: str, weight: float = 0.0) -> PipelineConfig:
        """The configuration of ``retriever`` on ``split`` with weight ``weight`` on the LLM."""
        return self.base.updated({"retrieval": {"retriever": retriever, "pool": self.pool, "llm_weight": weight,
                                                "interactions": str(self.interactions[split].resolve())}})

    def recommender(self, retriever: str, split: str, ranker: Ranker | None = None) -> Recommender:
        """The shipped pipeline of ``retriever`` on ``split`` (built once): ``config(...).make_recommender``,
        at weight 0 (the retriever's order); :func:`at_weight` gives it another weight. ``ranker`` is the LLM
        (a profile retriever writes with it too)."""
        key = (retriever, split)
        if key not in self._made:
            def ranker_for(scenario: str | None = None) -> Ranker:
                if ranker is None:
                    raise OptionError(f"the {retriever} retriever needs an LLM; drop --no-llm or the retriever")
                return ranker

            self._made[key] = self.config(retriever, split).make_recommender(self.catalog, ranker_for)
            self._made[key].ranker = ranker
        return self._made[key]

    def write_config(self, config: PipelineConfig) -> Path:
        """``config`` as ``config.toml`` beside the data; returns its path."""
        path = self.folder / "config.toml"
        path.write_text(config.to_toml(), encoding="utf-8")
        return path

    def rank_command(self, user_id: str, split: str = "test", retriever: str | None = None) -> str:
        """The ``promptrec rank`` command line that repeats one user's ranking."""
        extra = f" --retriever {retriever} --llm-weight 0" if retriever else ""
        return (f"promptrec rank --config {self.folder / 'config.toml'} --catalog {self.catalog_path} "
                f"--user-file {self.histories[split]} --user {user_id} -k {self.pool}{extra}")


def at_weight(recommender: Recommender, weight: float) -> Recommender:
    """The same pipeline (retriever, ranker, pool, fusion) with weight ``weight`` on the LLM."""
    other = copy.copy(recommender)
    other.llm_weight = weight
    return other


def write_pipeline_files(
    dataset: EvalDataset,
    folder: Path,
    base: PipelineConfig,
    pool: int,
    histories: dict[str, Sequence[tuple[str, Sequence[Item]]]],
) -> PipelineFiles:
    """Write the catalog, both splits' training interactions and the sampled users' ``histories`` (split ->
    ``(user id, items)``) into ``folder``; the :class:`PipelineFiles` that names them."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog, exclude = pipeline_catalog(dataset)
    files = PipelineFiles(folder, catalog, exclude, base.updated({"scenario": dataset.scenario}), pool)
    files.catalog_path.write_text("".join(_item_json(item) + "\n" for item in catalog.values()), encoding="utf-8")
    for split in SPLITS:
        with files.interactions[split].open("w", encoding="utf-8") as out:
            for n, sequence in enumerate(dataset.split(split).train):
                known = [i for i in sequence if i in catalog]
                if known:
                    out.write(json.dumps({"user_id": f"train-{n}", "history": known}, ensure_ascii=False) + "\n")
        with files.histories[split].open("w", encoding="utf-8") as out:
            for user_id, items in histories.get(split, ()):
                out.write(json.dumps({"user_id": user_id, "history": [i.id for i in items]}, ensure_ascii=False) + "\n")
    return files


def base_config(config: PipelineConfig | None = None) -> PipelineConfig:
    """The configuration the protocol's pipelines start from: the LLM's (its backend, ranker, prompts,
    cache), else the defaults; feedback off (the evaluation's users have none)."""
    from promptrec.config import PipelineConfig

    return (config or PipelineConfig()).updated({"feedback": {"enabled": False}})


__all__ = ["RETRIEVER_CHOICES", "PipelineFiles", "SPLITS", "at_weight", "base_config", "pipeline_catalog", "write_pipeline_files"]
