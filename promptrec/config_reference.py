"""The configuration reference (docs/configuration.md), generated from :class:`~promptrec.config.PipelineConfig`'s
pydantic sections, so the page cannot drift from the code.

    python -m promptrec.config_reference > docs/configuration.md

``tests/test_config_reference.py`` fails when the committed page differs from what this writes.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

PREFACE = """\
# Configuration

Every run is described by one `PipelineConfig`: backend, scenario, ranker, cache, feedback, retrieval and
your data's column names. `promptrec rank`, `promptrec batch` (locally and in each Ray actor) and
`promptrec eval` all build the pipeline from it. Save a run's configuration with `promptrec config show`
and repeat the run with `--config FILE` (TOML or JSON). Options given on the command line override the
file; defaults do not.

```bash
promptrec config show --catalog demo --mode score --llm-weight 0.3 > run.toml
promptrec rank --config run.toml --catalog demo --history m01,m03,m04 -k 5
```

```toml
scenario = "movies"

[backend]
spec = "openai:qwen2.5-7b-instruct"   # kind[:model]; the other keys are the backend's options
base_url = "http://127.0.0.1:8000/v1"

[ranker]
mode = "score"

[retrieval]
retriever = "cooccurrence"
interactions = "ratings.csv"
llm_weight = 0.3
```

A mistake is reported with its file, line and field, before any model loads
(`run.toml:8: feedbak: unknown option; the sections are: ...`). From Python:

```python
from promptrec import PipelineConfig, read_catalog

config = PipelineConfig.load("run.toml")       # or PipelineConfig.from_dict({...})
recommender = config.make_recommender(read_catalog("items.jsonl"))
ranker = config.make_ranker("books")           # or config.rankers(): scenario -> Ranker, one backend
```

`promptrec eval` embeds each LLM's configuration in its report (without secrets such as the API key) and
writes `config.toml` to the run folder; `promptrec eval --config RUN/config.toml` repeats that run's LLM.
A backend's own options (the keys of `[backend]` besides `spec`) are listed by `promptrec backends`.

The rest of this page is generated from the code (`python -m promptrec.config_reference`).
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(json.dumps(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "(unset)"
    if isinstance(value, tuple):
        value = list(value)
    return "`" + json.dumps(value) + "`"


#: what a field is, where its pydantic ``description`` says nothing (the code's description wins)
NOTES: dict[tuple[str, str], str] = {
    ("backend", "spec"): "kind[:model]: llamacpp (the bundled model), llamacpp:/path/model.gguf, openai:MODEL, "
                         "or a kind a plugin registers",
    ("ranker", "shuffle"): "show the candidates in a seeded random order (against position bias)",
    ("ranker", "seed"): "the seed of the shuffle and of the backend's sampling",
    ("ranker", "temperature"): "sampling temperature (0: greedy)",
    ("ranker", "permutations"): "passes in cyclically shifted candidate orders, aggregated (against position bias)",
    ("ranker", "calibrate"): "score and pointwise modes: divide out the label prior of a content-free prompt",
    ("cache", "enabled"): "read and write the completion cache",
    ("cache", "dir"): "the cache folder [default: $PROMPTREC_CACHE_DIR or the user cache folder]",
    ("feedback", "enabled"): "use the feedback store",
    ("feedback", "db"): "the SQLite feedback store [default: $PROMPTREC_FEEDBACK_DB or the user data folder]",
    ("feedback", "examples"): "feedback records shown in each prompt (0: none)",
    ("feedback", "selection"): "the most recent records, or the most similar to the candidates",
    ("feedback", "cross_scenario"): "also use the user's feedback from other scenarios",
    ("feedback", "rejected"): "what happens to items the user disliked: moved last, removed, or kept",
    ("retrieval", "retriever"): "auto (cooccurrence with interactions, else semantic), popularity, cooccurrence, "
                                "bm25, semantic, profile, profile-bm25, or an ensemble such as bm25+semantic",
    ("retrieval", "pool"): "items retrieved from the catalog for the LLM to rank",
    ("retrieval", "fusion"): "wsum: weighted sum of min-max normalised scores; rrf: reciprocal ranks",
}


def _markdown(text: str) -> str:
    """A docstring's reStructuredText roles and literals as markdown."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    return " ".join(_markdown(text).split()).replace("|", "\\|")


def section_table(model: type[BaseModel], section: str = "") -> list[str]:
    """A markdown table of a section's fields: key, type, default, what it is."""
    lines = ["| key | type | default | what |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if isinstance(info.default, BaseModel) or (isinstance(info.annotation, type)
                                                   and issubclass(info.annotation, BaseModel)):
            continue
        lines.append(f"| `{name}` | {_cell(_type_name(info.annotation))} | {_cell(_default(info))} | "
                     f"{_cell(info.description or NOTES.get((section, name), ''))} |")
    return lines


def reference() -> str:
    """The whole page."""
    from promptrec.config import PipelineConfig

    out = [PREFACE, "## Top level", "", *section_table(PipelineConfig), ""]
    for name, info in PipelineConfig.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        doc = _markdown(" ".join((model.__doc__ or "").split()))
        out += [f"## `[{name}]`", ""]
        if doc:
            out += [doc, ""]
        if model.model_config.get("extra") == "allow":
            out += ["Any other key is an option of the backend named by `spec`; `promptrec backends` lists them.", ""]
        out += [*section_table(model, name), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference())
