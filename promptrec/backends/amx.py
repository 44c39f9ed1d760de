"""Keep llama.cpp off its AMX matrix multiply, which crashes the process on CPUs that have AMX.

On an x86-64 CPU with Intel AMX (every Xeon since Sapphire Rapids), a llama.cpp CPU build compiled for the
machine it was built on (pip's default from the sdist: ``GGML_NATIVE``) repacks the weights into its AMX
buffer type, and its AMX kernel segfaults on any batch of two or more tokens (ggml-org/llama.cpp#20824,
open; stanfordnlp/dspy#10079 saw the same crash on Sapphire Rapids CI runners). The model loads, the first
prompt kills the process, and Python prints nothing.

The fix is applied **at run time**, by loading models with ``llama_model_params.use_extra_bufts = False``
(llama.cpp's ``--no-repack``; llama-cpp-python has the field but no ``Llama()`` argument for it) where the
CPU advertises AMX. Why not at build time: a portable build (``GGML_NATIVE=OFF``) would have to be forced
through pip's wheel cache, which keys on the sdist and ignores ``CMAKE_ARGS``, would not help a user who
already has a native wheel or a prebuilt one, and a wheel built with ``-march=native`` on one CPU can die
with SIGILL on another. The run-time switch works with whatever wheel is installed. Its cost: extra buffer
types also hold llama.cpp's CPU repacking (Q4_0 into interleaved 4x8/8x8 layouts), so prompt processing of
a Q4_0 model loses that speed-up on AMX machines; ``eval/bench_amx.py`` measures it.

The switch, for when the default is wrong for a machine (``auto`` is the default)::

    PROMPTREC_LLAMA_EXTRA_BUFFERS=auto   # off where /proc/cpuinfo lists amx_tile/amx_int8/amx_bf16, else on
    PROMPTREC_LLAMA_EXTRA_BUFFERS=off    # never use extra buffer types (AMX, repack)
    PROMPTREC_LLAMA_EXTRA_BUFFERS=on     # always use them (llama.cpp's own default)

The in-process backend (:class:`~promptrec.backends.llamacpp.LlamaCppBackend`, option ``extra_buffers``)
and the local server (``promptrec serve-model``, :func:`~promptrec.backends.local_server.serve_gguf`) both apply it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from promptrec.errors import BackendError

logger = logging.getLogger(__name__)

ENV_VAR = "PROMPTREC_LLAMA_EXTRA_BUFFERS"
Setting = Literal["auto", "on", "off"]
SETTINGS: tuple[Setting, ...] = ("auto", "on", "off")
#: the CPU flags (as Linux's /proc/cpuinfo spells them) that make llama.cpp pick its AMX buffer type
AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
#: where the CPU flags are read; ``PROMPTREC_CPUINFO`` points elsewhere (the tests simulate CPUs with it)
CPUINFO_ENV_VAR = "PROMPTREC_CPUINFO"

_patch_lock = threading.Lock()


def cpu_flags(cpuinfo: str | Path | None = None) -> frozenset[str]:
    """The CPU feature flags the kernel reports in /proc/cpuinfo (or ``$PROMPTREC_CPUINFO``); empty where
    there is no such file, as on macOS."""
    path = Path(cpuinfo or os.environ.get(CPUINFO_ENV_VAR) or "/proc/cpuinfo")
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_amx(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU advertises Intel AMX."""
    return bool(AMX_FLAGS & (cpu_flags() if flags is None else flags))


def resolve_setting(setting: str | bool | None = None) -> Setting:
    """``setting`` as one of auto/on/off: ``None`` reads ``PROMPTREC_LLAMA_EXTRA_BUFFERS`` (default auto).

    Raises:
        BackendError: the value is not one of auto, on, off.
    """
    if isinstance(setting, bool):
        return "on" if setting else "off"
    source = f"option extra_buffers={setting!r}"
    if setting is None:
        setting = os.environ.get(ENV_VAR, "auto")
        source = f"{ENV_VAR}={setting!r}"
    value = str(setting).strip().lower()
    if value not in SETTINGS:
        raise BackendError(f"{source}: use one of {', '.join(SETTINGS)}")
    return value  # type: ignore[return-value]


def use_extra_buffers(setting: str | bool | None = None, flags: frozenset[str] | None = None) -> bool:
    """Whether llama.cpp may use its extra buffer types (AMX, weight repacking) on this machine."""
    value = resolve_setting(setting)
    if value == "auto":
        amx = cpu_has_amx(flags)
        if amx:
            logger.info("this CPU has AMX: loading llama.cpp models without extra buffer types "
                        "(llama.cpp's AMX kernel crashes; %s=on to force them)", ENV_VAR)
        return not amx
    return value == "on"


def _patched_defaults(llama_cpp_lib: Any, extra_buffers: bool) -> Any:
    original = llama_cpp_lib.llama_model_default_params
    if getattr(original, "_promptrec_extra_buffers", None) is not None:
        original = original._promptrec_original

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = extra_buffers
        return params

    defaults._promptrec_extra_buffers = extra_buffers  # type: ignore[attr-defined]
    defaults._promptrec_original = original  # type: ignore[attr-defined]
    return defaults


def _lib() -> Any:
    import llama_cpp.llama_cpp as lib

    if not hasattr(lib.llama_model_default_params(), "use_extra_bufts"):
        raise BackendError("this llama-cpp-python has no use_extra_bufts model parameter; upgrade it (>= 0.3.10)")
    return lib


@contextlib.contextmanager
def model_params(extra_buffers: bool) -> Iterator[None]:
    """Within the block, ``llama_cpp.Llama(...)`` loads models with ``use_extra_bufts = extra_buffers``.

    ``Llama.__init__`` takes its model parameters from ``llama_model_default_params()`` and has no
    argument for this field, so the defaults are wrapped for the duration (one load at a time).
    """
    lib = _lib()
    with _patch_lock:
        saved = lib.llama_model_default_params
        lib.llama_model_default_params = _patched_defaults(lib, extra_buffers)
        try:
            yield
        finally:
            lib.llama_model_default_params = saved


def apply_to_process(setting: str | bool | None = None) -> bool:
    """For a process that only serves models (``promptrec serve-model``): every later ``Llama()`` load in it
    follows :func:`use_extra_buffers`. Returns the decision."""
    extra = use_extra_buffers(setting)
    lib = _lib()
    lib.llama_model_default_params = _patched_defaults(lib, extra)
    return extra


def system_info() -> str:
    """llama.cpp's own line of compiled-in CPU features (``AMX_INT8 = 1 | REPACK = 1 | ...``)."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def describe() -> str:
    """What promptrec decides on this machine, and why, in one line (printed by CI and ``promptrec serve-model``)."""
    amx = cpu_has_amx()
    setting = resolve_setting()
    extra = use_extra_buffers(setting)
    return (f"CPU AMX: {'yes' if amx else 'no'} | {ENV_VAR}={setting} | llama.cpp extra buffer types: "
            f"{'on' if extra else 'off'}")
