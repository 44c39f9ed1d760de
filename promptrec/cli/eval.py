"""``promptrec eval``: run the evaluation harness on datasets (see :mod:`promptrec.evaluation.run`)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from promptrec.cli.common import CONFIG_FIELDS as COMMON_FIELDS
from promptrec.cli.common import (
    backend_flag_options,
    command_line_config,
    config_file_option,
    config_option,
    option_given,
)
from promptrec.errors import PromptrecError
from promptrec.evaluation.datasets import help_text as dataset_help
from promptrec.evaluation.run import PROTOCOL_CHOICES, RETRIEVER_CHOICES, STRATEGY_CHOICES, run_eval
from promptrec.ranker import MODES
from promptrec.safe_output import redact_argv

#: the protocol's own options that set a field of each LLM's PipelineConfig (they always apply); the others
#: are declared by :func:`~promptrec.cli.common.config_option`, as every command's
PROTOCOL_FIELDS: dict[str, tuple[str | None, str]] = {
    "history": ("ranker", "max_history"), "seed": ("ranker", "seed"), "temperature": ("ranker", "temperature"),
}
#: eval's options declared by config_option (its --pool and --scenario are the protocol's, set per dataset)
CONFIGURED = ("prompts_dirs", "mode", "permutations", "calibrate", "cache_dir")


def llm_configs(options: dict[str, Any]) -> list[Any]:
    """One :class:`~promptrec.config.PipelineConfig` per ``--backend`` and ``--strategy``: ``--config FILE``
    with the command's options on top (backend flags go to the backends that take them); ``--history``,
    ``--seed`` and ``--temperature`` are the protocol's, so they always apply. Feedback is never used here."""
    protocol = {"ranker": {"max_history": options["history"], "seed": options["seed"],
                           "temperature": options["temperature"]}, "feedback": {"enabled": False}}
    from_file = options.get("config_file") and not option_given(options, "backends")
    specs = (None,) if from_file else options["backends"]
    configs = []
    for spec in specs:
        fields = {**{name: COMMON_FIELDS[name] for name in CONFIGURED if name in options}, **PROTOCOL_FIELDS}
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
@click.option("-d", "--dataset", "datasets", multiple=True, default=("movielens",), show_default=True,
              metavar="NAME|FORMAT:PATH", help=dataset_help())
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder of the named datasets [default: $PROMPTREC_DATA or ../shared/datasets].")
@click.option("--protocol", type=click.Choice((*PROTOCOL_CHOICES, "replay")), multiple=True, default=("auto",), show_default=True,
              help="Repeatable. auto: each dataset's own 20-candidate protocol (llmrank / cross-domain / pointwise: "
              "the same, checked); full: the whole catalog, retriever by retriever, the pool, the LLM reranking it "
              "and the fused pipeline.")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True, help="Replay protocol: rounds of recommendations and answers per user.")
@click.option("--replay-start", type=click.IntRange(min=1), default=5, show_default=True, help="Replay protocol: the first ratings of each user the recommender knows.")
@click.option("--replay-k", type=click.IntRange(min=1), default=10, show_default=True, help="Replay protocol: items shown each round.")
@click.option("--pool", type=click.IntRange(min=1), default=20, show_default=True, help="Full protocol: items the pool retriever passes to the LLM (N).")
@click.option("--retriever", "retrievers", multiple=True, type=click.Choice(RETRIEVER_CHOICES),
              help="Full protocol: retrievers to measure (repeatable) [default: popularity, cooccurrence, bm25, semantic; profile (semantic) and profile-bm25 need an LLM].")
@click.option("--llm-users", type=click.IntRange(min=0), default=30, show_default=True, help="Full protocol: test users the LLM rows are measured on (a seeded subset).")
@click.option("--llm-valid-users", type=click.IntRange(min=0), default=None, help="Validation users the LLM is scored on and its fusion weight chosen on [default: full protocol --llm-users; 20-candidate protocol all --valid-users].")
@click.option("-n", "--users", type=click.IntRange(min=1), default=200, show_default=True, help="Test users sampled per dataset (records, for pointwise data).")
@click.option("--valid-users", type=click.IntRange(min=0), default=200, show_default=True, help="Validation users per dataset (priors, the pool retriever and fusion weights are chosen on them).")
@click.option("--force", is_flag=True, help="Choose a fusion weight even on fewer than 100 validation users (noisy; refused otherwise).")
@click.option("--save-rankings", is_flag=True, help="Write rankings.jsonl: each method's ranked ids per dataset, protocol and test user (full protocol: what 'promptrec rank --config OUT/config.toml' returns).")
@click.option("--candidates", type=click.IntRange(min=2), default=20, show_default=True, help="Candidates per case: the truth + N-1 negatives.")
@click.option("--history", type=click.IntRange(min=1), default=20, show_default=True, help="Most recent history items shown (H).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of user samples, negatives, shuffles and the random baseline.")
@click.option("--scenario", default=None, help="Scenario for every dataset [default: the dataset's own].")
@config_option("prompts", "--prompts", param="prompts_dirs", multiple=True, type=click.Path(file_okay=False))
@click.option("--backend", "backends", multiple=True, default=("llamacpp",), show_default=True, help="kind:model (repeatable); 'llamacpp' is the bundled SmolLM2-135M model.")
@click.option("--strategy", "strategies", multiple=True, type=click.Choice(STRATEGY_CHOICES), default=("sequential",), show_default=True, help="LLMRank prompt strategy (repeatable).")
@config_option("ranker.mode", type=click.Choice(MODES))
@config_option("ranker.calibrate", is_flag=True)
@config_option("ranker.permutations")
@click.option("--no-llm", is_flag=True, help="Run the baselines only.")
@click.option("--no-fusion", is_flag=True, help="Skip the LLM + prior fusion rows.")
@backend_flag_options
@config_file_option
@click.option("--temperature", type=float, default=0.0, show_default=True, help="The protocol's sampling temperature.")
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
