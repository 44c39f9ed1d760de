"""``promptrec serve``: serve a GGUF model over an OpenAI-compatible API."""

from __future__ import annotations

import click

from promptrec.cli.common import usage_or_failure
from promptrec.errors import PromptrecError


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve(server_args: tuple[str, ...]) -> None:
    """Serve a GGUF model over an OpenAI-compatible API (llama-cpp-python's server).

    Takes the arguments of 'python -m llama_cpp.server' (see 'promptrec serve --help'); --model defaults to
    the bundled SmolLM2 GGUF. On CPUs with AMX, models load without llama.cpp's extra buffer types, whose
    AMX kernel crashes (PROMPTREC_LLAMA_EXTRA_BUFFERS=auto|on|off overrides).

    \b
    Example:  promptrec serve --port 8000 --model_alias smollm2
              promptrec rank --catalog demo --history m01 --backend openai:smollm2 --base-url http://127.0.0.1:8000/v1
    """
    from promptrec.backends.local_server import main as serve_main

    try:
        serve_main(list(server_args))
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None

