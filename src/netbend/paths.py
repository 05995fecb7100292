"""Checks on the files netbend writes, made before any long work starts."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import NetbendError


def check_output(out: Path, *, overwrite: bool) -> None:
    """An output file can be written: not a folder, in a writable folder, not there yet unless ``overwrite``."""
    if out.is_dir():
        raise NetbendError(f"output {out} is a folder")
    if out.exists() and not overwrite:
        raise NetbendError(f"output {out} exists; pass --overwrite to replace it")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise NetbendError(f"cannot write {out}: {parent} is not a writable folder")
