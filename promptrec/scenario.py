"""Scenarios: a spec file plus Jinja templates per domain, rendered to chat messages in a sandbox.

A scenario lives in a folder ``<name>/`` holding ``scenario.toml`` and the templates it names (``system.j2``
and ``user.j2`` by default; also the texts of :data:`TEXT_ROLES`: each mode's answer instruction, the re-ask,
the feedback example line, the interest profile), or in strings (:meth:`Scenario.from_strings`). ``extends = "default"`` in the spec inherits every field and template the
folder does not give; a folder in a user directory (``--prompts DIR``) with a built-in's name overrides it
and can still extend it. Templates may also ``{% extends "builtin:default/user.j2" %}`` and override blocks.

Templates run in Jinja's immutable sandbox with ``StrictUndefined``: they cannot reach Python internals,
files or the environment, and every variable they use is checked against :data:`TEMPLATE_VARIABLES` when the
scenario loads. Item text reaches them escaped and delimited (:func:`escape_item_text`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptrec.backends.base import Message
from promptrec.data import Item
from promptrec.errors import ScenarioError
from promptrec.sandbox import BudgetedSandbox, TemplateBudgetError, render_budgeted

Strategy = Literal["sequential", "recency", "in_context"]
STRATEGIES: tuple[str, ...] = ("sequential", "recency", "in_context")

#: The variables a template may use, and what they hold.
TEMPLATE_VARIABLES: dict[str, str] = {
    "scenario": "the scenario's name",
    "description": "the scenario's description",
    "item_noun": "one item, e.g. 'movie'",
    "item_nouns": "several items, e.g. 'movies'",
    "verb": "what a user does with an item, e.g. 'watch'",
    "verb_past": "the same in the past tense, e.g. 'watched'",
    "strategy": "'sequential', 'recency' or 'in_context' (LLMRank's prompting strategies)",
    "history": "the user's items, oldest first; each has .text (escaped, quoted), .title and .attributes",
    "recent": "the most recent history item, or none",
    "demo": "in_context only: {history: items, target: item}, the user's own earlier items as an example",
    "candidates": "the candidates in shown order; each has .label, .text, .title and .attributes",
    "labels": "the candidates' labels in shown order",
    "n_candidates": "how many candidates there are",
    "k": "how many top items the user asked for",
    "answer_format": "the instruction that says how to answer (it matches the parser and the mode)",
    "examples": "in-context examples from the user's feedback (empty when there is none)",
    "task": "'rank' (order the candidates), 'pointwise' (will the user like the one candidate? Yes or No) or "
    "'profile' (describe what the user likes, in the interest-profile templates)",
    "history_nouns": "what the history's items are called (item_nouns unless the spec's history_item_nouns says "
    "otherwise, e.g. 'books' for movie candidates in a cross-domain scenario)",
    "history_verb": "what the user did with them (verb_past unless the spec's history_verb_past says otherwise)",
    "answers": "answer_pointwise: the answers whose first token is read as the score ('Yes', 'No')",
    "answer": "reask: the start of the answer that named no candidate (empty when it was empty)",
    "example": "feedback_example: one record, each text escaped and quoted: .label, .title, .rating, "
    ".scenario (empty unless named), .named (titles shown with it), .rest (how many more), .comment",
}

Task = Literal["rank", "pointwise"]

#: The optional templates of the interest profile (the retrieval stage's "interests" step).
_PROFILE_ROLES = ("profile_system", "profile_user")
#: The texts rendered on their own (:meth:`Scenario.render_text`), each from ``<role>.j2`` (or the spec's
#: ``<role>_template``): the answer instruction of each mode, generate mode's re-ask, one feedback example.
TEXT_ROLES = ("answer_generate", "answer_score", "answer_pointwise", "reask", "feedback_example")

_MAX_ITEM_CHARS = 200
_SPECIAL_TOKENS = re.compile(
    r"<\|[^|>]{0,40}\|>|</?s>|\[/?INST\]|<</?SYS>>|</?(?:system|user|assistant|think)>", re.IGNORECASE
)


#: what a non-ASCII character of these Unicode categories becomes: bracket and quote look-alikes (``〔A〕``,
#: ``⟦A⟧``, ``“``) must not fake a candidate label or a closing quote; control, format (zero-width, bidi
#: override) and line/paragraph separator characters become spaces
_UNICODE_CATEGORY_MAP = {"Ps": "(", "Pe": ")", "Pi": "'", "Pf": "'", "Cc": " ", "Cf": " ", "Zl": " ", "Zp": " "}
_LOW_QUOTES = frozenset("\u201a\u201e")  # ‚ „ are opening punctuation (Ps) but quotation marks


def _plain_char(ch: str) -> str:
    """``ch`` itself, or its replacement from :data:`_UNICODE_CATEGORY_MAP` (ASCII controls included)."""
    if ch in _LOW_QUOTES:
        return "'"
    category = unicodedata.category(ch)
    if ch.isascii() and category != "Cc":
        return ch
    return _UNICODE_CATEGORY_MAP.get(category, ch)


def escape_item_text(text: str, max_chars: int = _MAX_ITEM_CHARS) -> str:
    """Make untrusted item text safe to place inside a prompt, as one line without quotes or brackets.

    The text is NFKC-normalised (fullwidth ``［Ａ］`` becomes ``[A]``), control and format characters
    (zero-width, bidi overrides) are removed, whitespace collapses to single spaces, chat role and special
    tokens are dropped, double quotes and quote look-alikes become single quotes, and square brackets and
    bracket look-alikes become parentheses (so a title cannot close its quotes or fake a candidate label),
    and the text is capped in length.
    """
    text = str(text)
    if not (text.isascii() and text.isprintable()):  # the common case skips the per-character pass
        text = unicodedata.normalize("NFKC", text)
        text = "".join(_plain_char(ch) for ch in text)
    text = _SPECIAL_TOKENS.sub(" ", text)
    text = text.replace('"', "'").replace("[", "(").replace("]", ")").replace("\\", "/")
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text


def _attribute_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, str) and "|" in value:  # MovieLens-style genre lists
        value = ", ".join(part for part in value.split("|") if part)
    return escape_item_text(str(value), 80)


#: attribute names that ``attributes = ["*"]`` leaves out: identifiers, links and pictures, not descriptions
_NOT_SHOWN = re.compile(r"(?i:(^|[_\s-])(id|ids|uuid|sku|asin|url|urls|uri|link|href|image|images|img|thumbnail|domain)$)"
                        r"|[a-z](Id|ID|Url|URL)s?$")


def shown_attributes(item: Item, names: Sequence[str], tokens: int = 0) -> dict[str, str]:
    """The attributes a prompt shows after ``item``'s title: name -> escaped text, in order.

    ``names`` lists them (values only, as ``(1999; Action, Sci-Fi)``); ``["*"]`` shows every attribute the
    item has, as ``name: value``, except ids, links and pictures. ``tokens`` caps their total at about that
    many tokens (four characters a token; 0: no cap): attributes are kept whole, in order, while they fit,
    and the first one is shortened when even it does not."""
    star = list(names) == ["*"]
    if star:
        pairs = [(str(name), value) for name, value in item.attributes.items() if not _NOT_SHOWN.search(str(name))]
    else:
        pairs = [(name, item.attributes.get(name)) for name in names]
    budget = tokens * 4
    shown: dict[str, str] = {}
    used = 0
    for name, value in pairs:
        if value in (None, "", []) or isinstance(value, dict):
            continue
        text = _attribute_text(value)
        if star:
            text = f"{escape_item_text(name, 40)}: {text}"
        cost = len(text) + 2
        if budget and used + cost > budget:
            if not shown and budget > 8:
                shown[name] = text[: budget - 3].rstrip() + "…"
            break
        shown[name] = text
        used += cost
    return shown


class ScenarioSpec(BaseModel):
    """The fields of ``scenario.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    extends: str | None = None
    item_noun: str = "item"
    item_nouns: str = "items"
    verb: str = "choose"
    verb_past: str = "chosen"
    attributes: list[str] = Field(default_factory=list, description='attributes shown after the title, in order; ["*"]: '
                                  "every attribute an item has, as name: value (ids and links left out)")
    attribute_tokens: int = Field(0, ge=0, description="at most about this many tokens of attributes per item "
                                  "(four characters a token); 0: no cap")
    max_history: int = Field(20, ge=0, description="most recent history items put in a prompt")
    system_template: str = "system.j2"
    user_template: str = "user.j2"
    profile_system_template: str = "profile_system.j2"
    profile_user_template: str = "profile_user.j2"
    answer_generate_template: str = "answer_generate.j2"
    answer_score_template: str = "answer_score.j2"
    answer_pointwise_template: str = "answer_pointwise.j2"
    reask_template: str = "reask.j2"
    feedback_example_template: str = "feedback_example.j2"
    content_free: str = Field("N/A", description="the title of calibration's content-free candidates")
    history_item_nouns: str | None = Field(None, description="what the history's items are called, if not item_nouns")
    history_verb_past: str | None = Field(None, description="what the user did with them, if not verb_past")


@dataclass(frozen=True)
class _Source:
    name: str
    folder: Path
    builtin: bool
    files: dict[str, str] | None = None  # a scenario given as strings (file name -> text), not a folder

    @property
    def where(self) -> str:
        return f"<{self.name}>" if self.files is not None else str(self.folder)

    def has(self, file: str) -> bool:
        return file in self.files if self.files is not None else (self.folder / file).is_file()


def builtin_prompts_dir() -> Path:
    """The folder of the built-in scenarios shipped inside the package."""
    return Path(str(resources.files("promptrec.prompts")))


def _sources(prompts_dirs: Sequence[str | Path]) -> list[_Source]:
    """Every scenario folder, user directories first (they override built-ins of the same name)."""
    found: list[_Source] = []
    for directory in prompts_dirs:
        directory = Path(directory)
        if not directory.is_dir():
            raise ScenarioError(f"prompts directory not found: {directory}")
        found += [_Source(p.parent.name, p.parent, False) for p in sorted(directory.glob("*/scenario.toml"))]
    found += [_Source(p.parent.name, p.parent, True) for p in sorted(builtin_prompts_dir().glob("*/scenario.toml"))]
    return found


def available_scenarios(prompts_dirs: Sequence[str | Path] = ()) -> dict[str, Path]:
    """Scenario name -> the folder that defines it (a user folder wins over a built-in one)."""
    names: dict[str, Path] = {}
    for source in _sources(prompts_dirs):
        names.setdefault(source.name, source.folder)
    return names


def _read_spec(source: _Source) -> dict[str, Any]:
    path = f"{source.where}/scenario.toml"
    if source.files is None:
        _check_contained(Path(path), source.folder.parent)
    try:
        text = source.files.get("scenario.toml", "") if source.files is not None else Path(path).read_text("utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    return data


class Scenario:
    """A loaded, validated scenario: renders a user's history and labelled candidates to chat messages."""

    def __init__(self, spec: ScenarioSpec, templates: dict[str, str], env: ImmutableSandboxedEnvironment):
        self.spec = spec
        self.name = spec.name
        self._env = env
        self._system = env.get_template(templates["system"])
        self._user = env.get_template(templates["user"])
        self._profile = tuple(env.get_template(templates[r]) for r in _PROFILE_ROLES if r in templates)
        self._texts = {role: env.get_template(templates[role]) for role in TEXT_ROLES if role in templates}
        self.template_files = templates
        self._views: dict[Item, dict[str, Any]] = {}  # escaped item text, reused across prompts

    def render(
        self,
        history: Sequence[Item],
        candidates: Sequence[tuple[str, Item]],
        *,
        strategy: Strategy = "sequential",
        k: int | None = None,
        answer_format: str = "",
        examples: Sequence[dict[str, Any]] = (),
        task: Task = "rank",
    ) -> list[Message]:
        """Render the system and user messages for ``history`` (oldest first) and ``(label, item)`` pairs.

        ``task="pointwise"`` asks about the one candidate given (TALLRec: will the user like it?)."""
        if strategy not in STRATEGIES:
            raise ScenarioError(f"unknown strategy '{strategy}'; choose one of: {', '.join(STRATEGIES)}")
        context = self._context(history, candidates, strategy, k, answer_format, examples)
        context["task"] = task
        return self._render_messages((("system", self._system), ("user", self._user)), context)

    @classmethod
    def from_strings(
        cls, name: str, spec: str = "", templates: dict[str, str] | None = None,
        prompts_dirs: Sequence[str | Path] = (),
    ) -> Scenario:
        """A scenario given as strings instead of a folder: ``spec`` is its ``scenario.toml`` text (it may
        ``extends`` a built-in or a scenario in ``prompts_dirs``) and ``templates`` maps file names
        (``user.j2``...) to template text. Loaded and checked like a folder (:func:`load_scenario`)."""
        files = {"scenario.toml": spec, **(templates or {})}
        return load_scenario(name, prompts_dirs, _extra=_Source(name, Path(f"<{name}>"), False, files))

    def render_text(self, role: str, **context: Any) -> str:
        """One of the :data:`TEXT_ROLES` texts (an answer instruction, the re-ask, a feedback example line),
        rendered with the scenario's fields and ``context`` (variables of :data:`TEMPLATE_VARIABLES`)."""
        template = self._texts.get(role)
        if template is None:
            raise ScenarioError(f"scenario '{self.name}' has no {role} template ({role}.j2); extend 'default' or add it")
        values = self._context([], [], "sequential", None, "", ())
        values.update(context)
        return self._render_one(template, values)

    @property
    def has_profile(self) -> bool:
        """True when the scenario has interest-profile templates (every built-in does, from ``default``)."""
        return len(self._profile) == len(_PROFILE_ROLES)

    def render_profile(self, history: Sequence[Item], *, examples: Sequence[dict[str, Any]] = ()) -> list[Message]:
        """The messages that ask the model for a short interest profile of a user with this ``history``
        (oldest first) and feedback ``examples``: the ``profile_system``/``profile_user`` templates."""
        if not self.has_profile:
            raise ScenarioError(f"scenario '{self.name}' has no interest-profile templates (profile_system.j2 and "
                                "profile_user.j2); extend 'default' or add them")
        context = self._context(history, [], "sequential", None, "", examples)
        context["task"] = "profile"
        return self._render_messages(zip(("system", "user"), self._profile), context)

    def _render_messages(self, templates: Any, context: dict[str, Any]) -> list[Message]:
        messages: list[Message] = []
        for role, template in templates:
            text = self._render_one(template, context)
            if text:
                messages.append({"role": role, "content": text})  # type: ignore[typeddict-item]
        return messages

    @staticmethod
    def _render_one(template: jinja2.Template, context: dict[str, Any]) -> str:
        try:
            return render_budgeted(template, context).strip()
        except TemplateBudgetError as exc:
            raise TemplateBudgetError(f"{_location(template, exc)}: over the rendering budget: {exc}") from None
        except SecurityError as exc:
            raise ScenarioError(f"{_location(template)}: refused by the template sandbox: {exc}") from None
        except jinja2.TemplateError as exc:
            raise ScenarioError(f"{_location(template, exc)}: {exc}") from None

    def _item_view(self, item: Item) -> dict[str, Any]:
        view = self._views.get(item)
        if view is None:
            if len(self._views) > 100_000:
                self._views.clear()
            view = self._views[item] = self._make_item_view(item)
        return view

    def _make_item_view(self, item: Item) -> dict[str, Any]:
        attributes = shown_attributes(item, self.spec.attributes, self.spec.attribute_tokens)
        text = json.dumps(escape_item_text(item.title), ensure_ascii=False)
        if attributes:
            text += " (" + "; ".join(attributes.values()) + ")"
        return {"title": escape_item_text(item.title), "text": text, "attributes": attributes}

    def _context(
        self,
        history: Sequence[Item],
        candidates: Sequence[tuple[str, Item]],
        strategy: str,
        k: int | None,
        answer_format: str,
        examples: Sequence[dict[str, Any]],
    ) -> dict[str, Any]:
        history_views = [self._item_view(item) for item in history]
        candidate_views = [{"label": label, **self._item_view(item)} for label, item in candidates]
        demo = None
        if strategy == "in_context" and len(history_views) >= 2:
            demo = {"history": history_views[:-1], "target": history_views[-1]}
        spec = self.spec
        return {
            "scenario": spec.name,
            "description": spec.description,
            "item_noun": spec.item_noun,
            "item_nouns": spec.item_nouns,
            "verb": spec.verb,
            "verb_past": spec.verb_past,
            "strategy": strategy,
            "history": history_views,
            "recent": history_views[-1] if history_views else None,
            "demo": demo,
            "candidates": candidate_views,
            "labels": [label for label, _ in candidates],
            "n_candidates": len(candidates),
            "k": k or len(candidates),
            "answer_format": answer_format,
            "examples": list(examples),
            "history_nouns": spec.history_item_nouns or spec.item_nouns,
            "history_verb": spec.history_verb_past or spec.verb_past,
            "answers": [],
            "answer": "",
            "example": {},
        }


def _location(template: jinja2.Template, exc: BaseException | None = None) -> str:
    filename = template.filename or template.name or "<template>"
    line = getattr(exc, "lineno", None)
    if line is None:
        tb = exc.__traceback__ if exc is not None else sys.exc_info()[2]
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
    return f"{filename}:{line}" if line else filename


def _check_contained(path: Path, root: Path) -> None:
    """A :class:`ScenarioError` unless ``path`` (symlinks resolved) lies inside ``root`` (resolved too)."""
    real, folder = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, folder]) != folder:
        raise ScenarioError(f"{path}: refused: it is a link to {real}, outside the prompts folder {root}; "
                            "copy the file into the folder instead")


class _ContainedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that refuses a template whose real path (symlinks resolved) is outside the folder
    it was found in, so a link in an untrusted prompts folder cannot read other files into a prompt."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        roots = [root for root in self.searchpath if os.path.commonpath([os.path.abspath(filename), os.path.abspath(root)])
                 == os.path.abspath(root)]
        _check_contained(Path(filename), Path(roots[0] if roots else os.path.dirname(filename)))
        return source, filename, uptodate


def _environment(prompts_dirs: Sequence[str | Path], extra: _Source | None = None) -> ImmutableSandboxedEnvironment:
    builtin = _ContainedLoader(str(builtin_prompts_dir()))
    search = [str(Path(d)) for d in prompts_dirs] + [str(builtin_prompts_dir())]
    loaders: list[jinja2.BaseLoader] = [_ContainedLoader(search), jinja2.PrefixLoader({"builtin": builtin}, ":")]
    if extra is not None and extra.files is not None:
        given = {f"{extra.name}/{file}": text for file, text in extra.files.items() if file != "scenario.toml"}
        loaders.insert(0, jinja2.DictLoader(given))
    loader = jinja2.ChoiceLoader(loaders)
    return BudgetedSandbox(
        loader=loader, undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )


def _check_template(env: ImmutableSandboxedEnvironment, name: str, seen: set[str], path: tuple[str, ...] = ()) -> None:
    """Compile ``name`` and the templates it pulls in; refuse variables outside TEMPLATE_VARIABLES, and a
    template that includes, imports or extends itself (directly or through others: an endless render)."""
    if name in path:
        cycle = " -> ".join((*path[path.index(name):], name))
        raise ScenarioError(f"template {name} pulls itself in ({cycle}); a template may not include itself")
    if name in seen:
        return
    seen.add(name)
    try:
        source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        ast = env.parse(source, name, filename)
    except jinja2.TemplateNotFound:
        raise ScenarioError(f"template not found: {name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ScenarioError(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(ast) - set(TEMPLATE_VARIABLES) - set(env.globals))
    if unknown:
        raise ScenarioError(
            f"{filename}: unknown template variable(s) {', '.join(unknown)}; "
            f"templates may use: {', '.join(TEMPLATE_VARIABLES)}"
        )
    for referenced in meta.find_referenced_templates(ast):
        if referenced is None:
            raise ScenarioError(f"{filename}: template names in extends/include must be literal strings")
        _check_template(env, referenced, seen, (*path, name))


def load_scenario(name: str, prompts_dirs: Sequence[str | Path] = (), *, _extra: _Source | None = None) -> Scenario:
    """Load and validate the scenario ``name``, looking in ``prompts_dirs`` before the built-ins.

    Raises :class:`ScenarioError` for an unknown name (listing the available ones), an invalid spec, a
    template with a syntax error, an unknown variable, or one the sandbox refuses when test-rendered.
    """
    sources = ([_extra] if _extra is not None else []) + _sources(prompts_dirs)
    env = _environment(prompts_dirs, _extra)
    fields: dict[str, Any] = {}
    templates: dict[str, str] = {}
    chain: list[str] = []
    position = 0
    wanted = name
    while True:
        matches = [i for i, s in enumerate(sources) if s.name == wanted and i >= position]
        if not matches:
            known = ", ".join(sorted({s.name for s in sources}))
            if chain:
                raise ScenarioError(f"scenario '{chain[-1]}' extends unknown scenario '{wanted}'; known: {known}")
            raise ScenarioError(f"unknown scenario '{wanted}'; available scenarios: {known}")
        position = matches[0]
        source = sources[position]
        if len(chain) > 10:
            raise ScenarioError(f"scenario '{name}' extends too deeply (a cycle?): {' -> '.join(chain)}")
        chain.append(wanted)
        data = _read_spec(source)
        for key, value in data.items():
            fields.setdefault(key, value)
        for role in ("system", "user", *_PROFILE_ROLES, *TEXT_ROLES):
            file = data.get(f"{role}_template", f"{role}.j2")
            if role not in templates and source.has(file):
                prefix = "builtin:" if source.builtin and _shadowed(sources, source) else ""
                templates[role] = f"{prefix}{source.name}/{file}"
        parent = data.get("extends")
        if not parent:
            break
        # a scenario that extends its own name means the next definition of it (a user override of a built-in)
        position = position + 1 if parent == wanted else 0
        wanted = parent
    fields["name"] = name
    fields.pop("extends", None)
    try:
        spec = ScenarioSpec(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())
        where = _extra.where if _extra is not None else available_scenarios(prompts_dirs).get(name)
        raise ScenarioError(f"{where}/scenario.toml: {problems}") from None
    for role in ("system", "user"):
        if role not in templates:
            raise ScenarioError(f"scenario '{name}' has no {role} template (and extends none that has)")
        _check_template(env, templates[role], set())
    for role in (*_PROFILE_ROLES, *TEXT_ROLES):
        if role in templates:
            _check_template(env, templates[role], set())
    scenario = Scenario(spec, templates, env)
    _dry_run(scenario)
    return scenario


def _shadowed(sources: list[_Source], source: _Source) -> bool:
    return any(s.name == source.name and not s.builtin for s in sources)


def _dry_run(scenario: Scenario) -> None:
    """Render every strategy once with sample data, so template mistakes surface at load time."""
    history = [Item(id=f"h{i}", title=f"Sample {i}", attributes={"year": 2000 + i}) for i in range(3)]
    candidates = [(label, Item(id=f"c{label}", title=f"Candidate {label}")) for label in "ABC"]
    for strategy in STRATEGIES:
        scenario.render(history, candidates, strategy=strategy, k=2, answer_format="Answer: [A] > [B] > [C]")  # type: ignore[arg-type]
        scenario.render([], candidates, strategy=strategy, k=None, answer_format="")  # type: ignore[arg-type]
        scenario.render(history, candidates[:1], strategy=strategy, answer_format="Yes or No", task="pointwise")  # type: ignore[arg-type]
    if scenario.has_profile:
        scenario.render_profile(history)
        scenario.render_profile([])
    labels = ["A", "B", "C"]
    texts: dict[str, dict[str, Any]] = {
        "answer_generate": {"labels": labels, "n_candidates": 3},
        "answer_score": {"labels": labels, "n_candidates": 3},
        "answer_pointwise": {"answers": ["Yes", "No"]},
        "reask": {"labels": labels, "n_candidates": 3, "answer": "I do not know"},
        "feedback_example": {"example": {"label": "liked", "title": '"Sample"', "rating": "", "scenario": "",
                                         "named": ['"Candidate A"'], "rest": 2, "comment": '"fine"'}},
    }
    for role, context in texts.items():
        if role in scenario._texts:
            scenario.render_text(role, **context)
