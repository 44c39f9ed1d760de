"""Run the harness on datasets and write a run folder (report, JSON, rows, plots): :func:`run_eval`.

The ``promptrec eval`` command (:mod:`promptrec.cli.eval`) builds the LLM configurations and calls it.
Everything heavy (ir-measures, bm25s, matplotlib, the model) loads only when it runs.
"""

from __future__ import annotations

import importlib
import shlex
import time
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptrec.config import EvalSection
from promptrec.errors import MissingDependencyError, OptionError
from promptrec.evaluation.pipelines import RETRIEVER_CHOICES
from promptrec.progress import progress_bar

#: the choices of the ``[eval]`` section's fields (their one declaration: :class:`promptrec.config.EvalSection`)
STRATEGY_CHOICES: tuple[str, ...] = typing.get_args(typing.get_args(EvalSection.model_fields["strategies"].annotation)[0])
PROTOCOL_CHOICES: tuple[str, ...] = tuple(
    p for p in typing.get_args(typing.get_args(EvalSection.model_fields["protocol"].annotation)[0]) if p != "replay")
__all__ = ["PROTOCOL_CHOICES", "RETRIEVER_CHOICES", "STRATEGY_CHOICES", "run_eval"]



def _require_eval_extra() -> None:
    for module, package in (("ir_measures", "ir-measures"), ("bm25s", "bm25s"), ("matplotlib", "matplotlib")):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(package, "eval") from None


def _llm_factories(options: dict[str, Any], datasets: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """Method factories per backend and strategy, for the ranking datasets (in ``--mode``) and for the
    yes/no datasets (in pointwise mode), and the configurations they were built from; each backend is
    loaded once and shared. Empty where not needed."""
    from promptrec.evaluation.llm import config_llm_factory
    from promptrec.evaluation.pointwise import PointwiseDataset

    configs = list(options.get("configs") or [])
    if options["no_llm"] or not configs:
        return [], [], []
    backends: dict[str, Any] = {}
    caches: dict[str, Any] = {}

    def factories(mode: str | None) -> list[Any]:
        made = []
        for config in configs:
            if mode == "pointwise":
                config = config.updated({"ranker": {"mode": "pointwise", "permutations": 1}})
            key = config.backend.model_dump_json()
            if key not in backends:
                backends[key] = config.make_backend()
                caches[key] = config.make_cache()
            made.append(config_llm_factory(config, backend=backends[key], cache=caches[key]))
        return made

    ranking = any(not isinstance(d, PointwiseDataset) for d in datasets)
    yes_no = any(isinstance(d, PointwiseDataset) for d in datasets)
    return factories(None) if ranking else [], factories("pointwise") if yes_no else [], configs


def _progress() -> tuple[Any, Any]:
    progress = progress_bar()
    tasks: dict[str, Any] = {}

    def update(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = progress.add_task(task, total=total)
        progress.update(tasks[task], completed=done)

    return progress, update


def run_eval(options: dict[str, Any]) -> dict[str, Path]:
    """Run every dataset of ``options`` (the command's parameters) and write the run folder."""
    _require_eval_extra()
    from promptrec.evaluation.datasets import load_dataset
    from promptrec.evaluation.pointwise import PointwiseDataset, run_pointwise
    from promptrec.evaluation.protocol import ProtocolConfig
    from promptrec.evaluation.report import write_report
    from promptrec.evaluation.runner import run_dataset

    started = time.perf_counter()
    config = ProtocolConfig(
        users=options["users"], valid_users=options["valid_users"], candidates=options["candidates"],
        history=options["history"], seed=options["seed"],
        llm_valid_users=options["llm_valid_users"],
    )
    datasets = [load_dataset(spec, options["data_dir"], options["scenario"]) for spec in options["datasets"]]
    protocols = tuple(options["protocol"]) or ("auto",)
    candidates = [p for p in protocols if p != "full"]
    for spec, dataset in zip(options["datasets"], datasets):
        for protocol in candidates:
            if protocol not in ("auto", dataset.protocol):
                raise OptionError(f"dataset '{spec}' is {dataset.protocol}, not {protocol}")
    factories, yes_no, configs = _llm_factories(options, datasets)
    runs, pointwise, full = [], [], []
    progress, update = _progress()
    with progress:
        for dataset in datasets:
            if isinstance(dataset, PointwiseDataset):
                methods = [make(dataset) for make in yes_no]
                pointwise.append(run_pointwise(dataset, options["users"], options["seed"], methods, update))
                done = f"{dataset.name}: {len(pointwise[-1].cases)} records"
                progress.console.print(f"{done} (seed {options['seed']})")
                continue
            if candidates:
                runs.append(run_dataset(dataset, config, factories, fusion=not options["no_fusion"],
                                        force=options.get("force", False), progress=update))
                done = f"{dataset.name}: {len(runs[-1].test)} test + {len(runs[-1].valid)} validation users"
                progress.console.print(f"{done} (seed {options['seed']})")
            if "full" in protocols:
                full.append(_run_full(dataset, config, options, factories, configs, update))
                done = (f"{dataset.name} (full catalog): {len(full[-1].test)} test + {len(full[-1].valid)} validation "
                        f"users, LLM on {len(full[-1].llm_test)} + {len(full[-1].llm_valid)}")
                progress.console.print(f"{done} (seed {options['seed']})")
    meta = {
        "command": " ".join(shlex.quote(a) for a in options["argv"]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backends": ", ".join(dict.fromkeys(c.backend.spec for c in configs)) if configs else "none (baselines only)",
        "strategies": ", ".join(dict.fromkeys(c.ranker.strategy for c in configs)) if configs else "—",
        "mode": "none (baselines only)" if not configs else configs[0].ranker.mode
        + (" (pointwise on yes/no datasets)" if yes_no else "") + (", calibrated" if configs[0].ranker.calibrate else ""),
        "seed": options["seed"],
        "users per dataset": ", ".join(
            [f"{r.dataset.name} {len(r.test)} (+{len(r.valid)} validation)" for r in runs]
            + [f"{p.dataset.name} {len(p.cases)} records" for p in pointwise]
            + [f"{f.dataset.name} full catalog {len(f.test)} (+{len(f.valid)} validation; LLM {len(f.llm_test)} "
               f"+{len(f.llm_valid)})" for f in full]
        ),
        "wall time": f"{time.perf_counter() - started:.0f} s",
    }
    return write_report(options["output"], runs, pointwise, meta, full, configs,
                        save_rankings=options.get("save_rankings", False))


def _run_full(dataset: Any, config: Any, options: dict[str, Any], factories: list[Any], configs: list[Any],
              update: Any) -> Any:
    """The full-catalog protocol on one dataset: the shipped pipeline (built from the first LLM's
    configuration, if any) with its files under ``<output>/data/<dataset>/``."""
    import re

    from promptrec.evaluation.fullcatalog import DEFAULT_RETRIEVERS, run_full
    from promptrec.pipeline import default_llm_weight

    llm = factories[0](dataset) if factories else None
    ranker = getattr(llm, "ranker", None)
    folder = Path(options["output"]) / "data" / (re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.name).strip("-") or "dataset")
    return run_full(
        dataset, config, retrievers=tuple(options["retrievers"]) or DEFAULT_RETRIEVERS, llm=llm,
        pipeline=configs[0] if configs else None, folder=folder, pool_size=options["pool"],
        llm_users=options["llm_users"], llm_valid_users=options["llm_valid_users"],
        fixed_weight=default_llm_weight(ranker) if ranker is not None else None, force=options.get("force", False),
        progress=update,
    )
