"""``promptrec eval``: run the evaluation harness on datasets (see :mod:`promptrec.evaluation.run`)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from promptrec.cli.common import backend_flag_options, usage_or_failure
from promptrec.cli.options import command_fields, command_line_config, config_file_option, config_option, option_given
from promptrec.errors import PromptrecError
from promptrec.evaluation.datasets import help_text as dataset_help
from promptrec.evaluation.run import RETRIEVER_CHOICES, run_eval
from promptrec.ranker import MODES
from promptrec.safe_output import redact_argv


def eval_settings(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the ``[eval]`` section's values under their field names (``history``, ``pool``...):
    ``--config FILE``, then ``PROMPTREC_EVAL_<FIELD>``, then the command line."""
    fields = {name: field for name, field in command_fields(eval_command).items() if field[0] == "eval"}
    try:
        settings = command_line_config(options, fields, lenient=True).eval
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    return {**options, **settings.model_dump()}


def llm_configs(options: dict[str, Any]) -> list[Any]:
    """One :class:`~promptrec.config.PipelineConfig` per ``--backend`` and ``--strategy``: ``--config FILE``
    with the command's options on top (backend flags go to the backends that take them); ``--history``,
    ``--seed`` and ``--temperature`` are the protocol's, so they always apply. Feedback is never used here."""
    from promptrec.config import EvalSection

    protocol = {"ranker": {"max_history": options["history"], "seed": options["seed"],
                           "temperature": options["temperature"]}, "feedback": {"enabled": False},
                "eval": {name: options[name] for name in EvalSection.model_fields}}
    from_file = options.get("config_file") and not option_given(options, "backends")
    specs = (None,) if from_file else options["backends"]
    configs = []
    fields = {name: field for name, field in command_fields(eval_command).items() if field[0] != "eval"}
    for spec in specs:
        config = command_line_config({**options, "backend_spec": spec}, fields,
                                     lenient=len(specs) > 1).updated(protocol)
        configs += [config.updated({"ranker": {"strategy": strategy}}) for strategy in options["strategies"]]
    return configs



def default_eval_dir() -> Path:
    """Where runs go without -o: ``$PROMPTREC_EVAL_DIR``, else ``<user data folder>/eval`` (never the current
    folder, which may be a repository)."""
    import os

    configured = os.environ.get("PROMPTREC_EVAL_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("promptrec", appauthor=False)) / "eval"


@click.command("eval", context_settings={"help_option_names": ["-h", "--help"]})
@config_option("eval.datasets", "-d", "--dataset", param="datasets", multiple=True, metavar="NAME|FORMAT:PATH",
               extra_help=dataset_help())
@config_option("eval.data_dir", type=click.Path(file_okay=False))
@config_option("eval.protocol", multiple=True)
@config_option("eval.rounds")
@config_option("eval.replay_start")
@config_option("eval.replay_k")
@config_option("eval.pool", param="eval_pool")
@config_option("eval.retrievers", "--retriever", param="retrievers", multiple=True, type=click.Choice(RETRIEVER_CHOICES))
@config_option("eval.llm_users")
@config_option("eval.llm_valid_users")
@config_option("eval.users", "-n", "--users")
@config_option("eval.valid_users")
@config_option("eval.force", is_flag=True)
@config_option("eval.save_rankings", is_flag=True)
@config_option("eval.candidates")
@config_option("eval.history", param="eval_history")
@config_option("eval.seed", param="eval_seed")
@config_option("eval.scenario", param="eval_scenario")
@config_option("prompts", "--prompts", param="prompts_dirs", multiple=True, type=click.Path(file_okay=False))
@config_option("eval.backends", "--backend", param="backends", multiple=True)
@config_option("eval.strategies", "--strategy", param="strategies", multiple=True)
@config_option("ranker.mode", type=click.Choice(MODES))
@config_option("ranker.calibrate", is_flag=True)
@config_option("ranker.permutations")
@config_option("eval.no_llm", is_flag=True)
@config_option("eval.no_fusion", is_flag=True)
@backend_flag_options
@config_file_option
@config_option("eval.temperature", param="eval_temperature")
@config_option("cache.dir", "--cache-dir", type=click.Path(file_okay=False))
@click.option("--no-cache", is_flag=True, help="Neither read nor write the completion cache (cache.enabled = false).")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Run folder [default: <user data folder>/eval/<date-time>, printed; $PROMPTREC_EVAL_DIR instead of <user data folder>/eval].")
def eval_command(**options: Any) -> None:
    """Evaluate LLM ranking against baselines on real datasets; write report.md, results.json, rows, plots.

    \b
    Protocols: LLMRank leave-last-out with 20 candidates (movielens, games, office, industrial);
    cross-domain cold-start (books-movies...); pointwise yes/no AUC (bookcrossing; the LLM in pointwise mode).
    Every table has random and popularity rows; fusion weights are chosen on validation users.

    \b
    Examples:  promptrec eval -d movielens -d games -d books-movies -n 100 -o results/smollm2
               promptrec eval -d movielens -d cds-books --protocol full --no-llm -n 300 --valid-users 150
               promptrec eval -d crossdomain:DATA:grocery:kitchen --protocol auto --protocol full
               promptrec eval -d movielens -d amazon-cds --protocol replay --no-llm -n 200 -o results/replay

    \b
    The replay protocol measures the feedback loop: each round the pipeline recommends from the whole
    catalog and each user answers from their own held-back ratings (see promptrec.evaluation.replay).
    """
    options = eval_settings(options)
    options["argv"] = redact_argv([Path(sys.argv[0]).name, *sys.argv[1:]])  # recorded in the report: no key
    options["output"] = options["output"] or str(default_eval_dir() / datetime.now().strftime("%Y%m%d-%H%M%S"))
    options["configs"] = [] if options["no_llm"] else llm_configs(options)
    if "replay" in options["protocol"]:
        _replay(options)
        return
    try:
        paths = run_eval(options)
    except (PromptrecError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(paths["report"].read_text(encoding="utf-8"))
    for kind, path in paths.items():
        click.echo(f"{kind}: {path}", err=True)




def _replay(options: dict[str, Any]) -> None:
    """``--protocol replay``: the feedback loop, round by round, against a no-feedback control."""
    import json

    from promptrec.config import PipelineConfig
    from promptrec.evaluation.files import default_data_dir
    from promptrec.evaluation.replay import load, report, run_replay
    from promptrec.progress import progress_bar

    if set(options["protocol"]) != {"replay"}:
        raise click.UsageError("--protocol replay runs alone; run the other protocols separately")
    retriever = options["retrievers"][0] if options["retrievers"] else "auto"
    config = options["configs"][0] if options["configs"] else PipelineConfig().updated(
        {"retrieval": {"llm_weight": 0.0}})
    config = config.updated({"retrieval": {"retriever": retriever, "pool": max(options["pool"], options["replay_k"])}})
    data_dir = Path(options["data_dir"]) if options["data_dir"] else default_data_dir()
    results = []
    with progress_bar() as progress:
        tasks: dict[str, Any] = {}

        def update(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = progress.add_task(task, total=total)
            progress.update(tasks[task], completed=done)

        try:
            for spec in options["datasets"]:
                data = load(spec, data_dir)
                results.append(run_replay(data, config, users=options["users"], rounds=options["rounds"],
                                          start=options["replay_start"], k=options["replay_k"],
                                          seed=options["seed"], progress=update))
        except PromptrecError as exc:
            raise click.ClickException(str(exc)) from None
    out = Path(options["output"])
    out.mkdir(parents=True, exist_ok=True)
    text = report(results, config)
    command = " ".join(options["argv"])
    (out / "report.md").write_text(f"{text}\nCommand: `{command}`\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps({"command": command, "datasets": results}, indent=2,
                                                 allow_nan=False, default=str), encoding="utf-8")
    (out / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    click.echo(text)
    for name in ("report.md", "results.json", "config.toml"):
        click.echo(f"{name}: {out / name}", err=True)
