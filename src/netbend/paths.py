"""Checks on the files netbend writes, made before any long work starts, and making their folders.

The one rule for every file netbend writes: an existing file is replaced only with
``--overwrite``, and never when it is one of the run's inputs (the audio, a stem, the prompt
schedule, the scene file, a model, decoder or LoRA file, or anything inside a model folder),
whatever ``--overwrite`` says. Inputs are compared as files (symlinks, hard links, ``./x``
and absolute paths alike), not as strings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Union

from .errors import NetbendError

Inputs = Iterable[tuple[str, Union[str, Path]]]  # (role, path): ("the input audio", "song.wav")


def check_output(out: Path, *, overwrite: bool, inputs: Inputs = (), flag: str = "output") -> None:
    """An output file can be written: not one of ``inputs`` nor inside an input folder, not a
    folder, in a folder that exists or can be made and is writable, not there yet unless
    ``overwrite``. ``flag``: how messages name it (``--csv``)."""
    check_not_input(out, inputs, flag)
    if out.is_dir():
        raise NetbendError(f"output {out} is a folder")
    if out.exists() and not overwrite:
        raise NetbendError(f"output {out} exists; pass --overwrite to replace it")
    parent = out.absolute().parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise NetbendError(f"cannot write {out}: {existing} is not a writable folder")
    if existing != parent:  # some file systems (/proc, /sys) say writable and refuse new folders
        make_folder(parent, what=f"cannot write {out}")


def check_not_input(out: Path, inputs: Inputs, flag: str = "output") -> None:
    """A `NetbendError` naming both roles if ``out`` is one of ``inputs`` or lies inside one that is a folder."""
    for role, source in inputs:
        source = Path(source).expanduser()
        if same_file(out, source):
            raise NetbendError(f"{flag} {out} is {role}; choose another name")
        if source.is_dir() and out.resolve().is_relative_to(source.resolve()):
            raise NetbendError(f"{flag} {out} is inside {role} {source}; choose another place")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode where both exist (links), else the same resolved path."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def local_inputs(role: str, source: str) -> list[tuple[str, str]]:
    """``[(role, source)]`` where ``source`` is a file or folder on this machine (not a hub id), else []."""
    return [(role, source)] if source and Path(source).expanduser().exists() else []


def make_folder(folder: Path, *, what: str | None = None) -> Path:
    """``folder`` and its parents, made if missing; a `NetbendError` (one line) if they cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        head = what or f"cannot make the folder {folder}"
        raise NetbendError(f"{head}: {e.strerror or e} ({e.filename or folder})") from None
    return folder
