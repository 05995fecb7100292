"""Checks on the files netbend writes, made before any long work starts, and making their folders."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import NetbendError


def check_output(out: Path, *, overwrite: bool) -> None:
    """An output file can be written: not a folder, in a folder that exists or can be made and
    is writable, not there yet unless ``overwrite``."""
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


def make_folder(folder: Path, *, what: str | None = None) -> Path:
    """``folder`` and its parents, made if missing; a `NetbendError` (one line) if they cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        head = what or f"cannot make the folder {folder}"
        raise NetbendError(f"{head}: {e.strerror or e} ({e.filename or folder})") from None
    return folder
