"""The Jinja sandbox that renders scenario templates, with a budget: templates in a user's prompts folder
are untrusted, so rendering one can neither reach Python internals, nor run for long, nor grow without end.

:class:`BudgetedSandbox` is Jinja's immutable sandbox plus limits, each of which ends a render with a
:class:`TemplateBudgetError` (a :class:`~promptrec.errors.ScenarioError`) instead of a hang or a crash:

- CPU time: :data:`RENDER_CPU_SECONDS` per render, checked at every call, attribute lookup and ``range`` step,
  and by a watchdog thread that interrupts a render stuck in a loop that calls nothing;
- output: :data:`MAX_RENDER_CHARS` characters per render, and per string or list built with ``*``, ``+``, ``%``
  or a filter, refused before it is built;
- numbers: ``**`` and ``*`` results over :data:`MAX_INT_BITS` bits (``9**99999999``) are refused before
  they are computed;
- ``range``: at most :data:`MAX_RANGE_ITEMS` items per render in all (nested ranges count together);
- ``lipsum``: at most 20 paragraphs; recursion (a macro calling itself) ends at Python's recursion limit.

Self and mutual includes are refused when a scenario loads (:mod:`promptrec.scenario`), as are templates
that are symlinks out of their prompts folder.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptrec.errors import ScenarioError

logger = logging.getLogger(__name__)

#: CPU seconds one render may take (a real prompt renders in milliseconds)
RENDER_CPU_SECONDS = 1.5
#: characters one render may produce, and the longest string or list a template may build
MAX_RENDER_CHARS = 2_000_000
#: the largest integer (in bits) that ``**`` or ``*`` may produce
MAX_INT_BITS = 4096
#: ``range`` items one render may iterate over, all ranges together
MAX_RANGE_ITEMS = 1_000_000
#: ``lipsum`` paragraphs
MAX_LIPSUM = 20
#: a width or precision of this many digits in a format string (``%1000000000d``) is refused
_HUGE_FORMAT_WIDTH = re.compile(r"(?:%|\{[^{}]*:)[^a-zA-Z%{}]*\d{6,}")


class TemplateBudgetError(ScenarioError):
    """A template went over its rendering budget (CPU time, output size, a huge number or range)."""


class _Interrupted(BaseException):
    """Raised inside a render thread by the watchdog (a BaseException, so no template code catches it)."""


class _Budget:
    """One render's budget: CPU time, output characters and range items left."""

    __slots__ = ("clock", "deadline", "range_items", "fired", "thread", "calls")

    def __init__(self, seconds: float) -> None:
        self.thread = threading.get_ident()
        self.clock = _thread_clock(self.thread)
        self.deadline = self.clock() + seconds
        self.range_items = MAX_RANGE_ITEMS
        self.fired = False
        self.calls = 0

    def check(self) -> None:
        self.calls += 1
        if self.calls & 15 == 0 and self.clock() > self.deadline:
            raise TemplateBudgetError(f"took more than {RENDER_CPU_SECONDS:g} s of CPU time to render")


def _thread_clock(ident: int) -> Callable[[], float]:
    """The CPU clock of thread ``ident`` (its wall clock where the platform cannot tell)."""
    try:
        clock_id = time.pthread_getcpuclockid(ident)
        time.clock_gettime(clock_id)
        return functools.partial(time.clock_gettime, clock_id)
    except (AttributeError, OSError):
        return time.monotonic


_local = threading.local()


def _budget() -> _Budget | None:
    return getattr(_local, "budget", None)


def _refuse(message: str) -> TemplateBudgetError:
    return TemplateBudgetError(message)


def _check_size(value: Any, what: str) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_RENDER_CHARS:
        raise _refuse(f"{what} would be longer than {MAX_RENDER_CHARS:,} characters or items")
    return value


def _check_format(text: Any) -> None:
    if isinstance(text, str) and _HUGE_FORMAT_WIDTH.search(text):
        raise _refuse("a format width or precision of a million or more is not allowed")


def _product_size(left: Any, right: Any) -> int | None:
    """The length of ``left * right`` for a sequence times an int, else ``None``."""
    if isinstance(left, int) and isinstance(right, (str, list, tuple)):
        left, right = right, left
    if isinstance(left, (str, list, tuple)) and isinstance(right, int) and not isinstance(right, bool):
        return len(left) * max(right, 0)
    return None


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


class _BudgetedRange:
    """``range`` for templates: counts every item it yields against the render's budget."""

    def __init__(self, *args: Any) -> None:
        self._range = args[0] if len(args) == 1 and isinstance(args[0], range) else range(*args)
        if len(self._range) > MAX_RANGE_ITEMS:
            raise _refuse(f"range of {len(self._range):,} items (at most {MAX_RANGE_ITEMS:,})")

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        item = self._range[index]
        return _BudgetedRange(item) if isinstance(item, range) else item

    def __contains__(self, value: Any) -> bool:
        return value in self._range

    def __reversed__(self) -> Iterator[int]:
        return iter(_BudgetedRange(self._range[::-1]))

    def __iter__(self) -> Iterator[int]:
        budget = _budget()
        for value in self._range:
            if budget is not None:
                budget.range_items -= 1
                if budget.range_items < 0:
                    raise _refuse(f"ranges of more than {MAX_RANGE_ITEMS:,} items in all")
                budget.check()
            yield value

    def __repr__(self) -> str:
        return repr(self._range)


def _lipsum(n: int = 5, *args: Any, **kwargs: Any) -> str:
    if not isinstance(n, int) or n > MAX_LIPSUM:
        raise _refuse(f"lipsum of more than {MAX_LIPSUM} paragraphs")
    from jinja2.utils import generate_lorem_ipsum

    return str(generate_lorem_ipsum(n, *args, **kwargs))


def _budgeted_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        if budget is not None:
            budget.check()
        extra = [v for v in (*args[1:], *kwargs.values()) if isinstance(v, int) and not isinstance(v, bool)]
        if any(abs(v) > MAX_RENDER_CHARS for v in extra):
            raise _refuse(f"filter '{name}' with an argument over {MAX_RENDER_CHARS:,}")
        if name == "format":
            _check_format(next((a for a in args if isinstance(a, str)), None))
        return _check_size(function(*args, **kwargs), f"the result of filter '{name}'")

    return wrapper


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the limits of this module; render with :func:`render_budgeted`."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = _BudgetedRange
        self.globals["lipsum"] = _lipsum
        self.filters = {name: _budgeted_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        if budget is not None:
            budget.check()
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and _int_bits(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
                raise _refuse(f"a number over {MAX_INT_BITS} bits ({left} ** {right})")
        elif operator == "*":
            size = _product_size(left, right)
            if size is not None and size > MAX_RENDER_CHARS:
                raise _refuse(f"a string or list of {size:,} characters or items (at most {MAX_RENDER_CHARS:,})")
            if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
                raise _refuse(f"a number over {MAX_INT_BITS} bits")
        elif operator == "%":
            _check_format(left)
        result = super().call_binop(context, operator, left, right)
        return _check_size(result, f"the result of '{operator}'")

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = _budget()
        if budget is not None:
            budget.check()
        if getattr(__obj, "__name__", None) in ("format", "format_map"):
            _check_format(getattr(__obj, "__self__", None) or getattr(getattr(__obj, "__wrapped__", None), "__self__", None))
        return _check_size(super().call(__context, __obj, *args, **kwargs), "a call's result")

    def getattr(self, obj: Any, attribute: str) -> Any:
        budget = _budget()
        if budget is not None:
            budget.check()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        budget = _budget()
        if budget is not None:
            budget.check()
        return super().getitem(obj, argument)


# ------------------------------------------------------------------------------------------- the watchdog


class _Watchdog:
    """One daemon thread that interrupts renders past their CPU deadline (a loop with no call to check in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._renders: dict[int, _Budget] = {}
        self._thread: threading.Thread | None = None

    def register(self, budget: _Budget) -> None:
        with self._lock:
            self._renders[budget.thread] = budget
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="promptrec-template-watchdog", daemon=True)
                self._thread.start()

    def unregister(self, budget: _Budget) -> None:
        with self._lock:
            if self._renders.get(budget.thread) is budget:
                del self._renders[budget.thread]
            if budget.fired:  # an interrupt may still be pending for this thread: take it back
                _set_async_exc(budget.thread, None)

    def _run(self) -> None:
        while True:
            time.sleep(0.1)
            with self._lock:
                for budget in list(self._renders.values()):
                    if not budget.fired and budget.clock() > budget.deadline + 0.2:
                        budget.fired = True
                        _set_async_exc(budget.thread, _Interrupted)


def _set_async_exc(thread: int, exc: type[BaseException] | None) -> None:
    try:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc) if exc else None)
    except (AttributeError, ValueError):  # not CPython: the per-call checks remain
        pass


_WATCHDOG = _Watchdog()


def render_budgeted(template: jinja2.Template, context: dict[str, Any], seconds: float = RENDER_CPU_SECONDS) -> str:
    """Render ``template`` with ``context`` within the budget; :class:`TemplateBudgetError` when over it.

    Renders nest (an include renders inside its parent's budget)."""
    outer = _budget()
    if outer is not None:  # already inside a budgeted render
        return _collect(template, context)
    budget = _Budget(seconds)
    _local.budget = budget
    try:
        try:
            _WATCHDOG.register(budget)
            try:
                return _collect(template, context)
            finally:
                _WATCHDOG.unregister(budget)
        except _Interrupted:
            raise _refuse(f"took more than {seconds:g} s of CPU time to render") from None
        except RecursionError:
            raise _refuse("recursed too deeply (a macro or include that calls itself?)") from None
        except MemoryError:
            raise _refuse("ran out of memory") from None
    finally:
        _local.budget = None


def _collect(template: jinja2.Template, context: dict[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_RENDER_CHARS:
            raise _refuse(f"output longer than {MAX_RENDER_CHARS:,} characters")
        parts.append(chunk)
    return "".join(parts)
