"""Finished frames on disk: a render resumes from them, and two renders never mix theirs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..audio.drives import Drive
from ..errors import NetbendError
from ..paths import Inputs, make_folder, same_file
from ..settings import Panel, RenderJob
from ..settings.declare import frames_key

KEY_FILE = "netbend-frames.json"
LOCK_FILE = ".netbend-frames.lock"


def store_key(job: RenderJob, picture: Panel, drives: list[Drive], n_frames: int) -> dict:
    """What decides a picture's frames: the settings declared to (the generation, every bend
    as it acts, the frame rate), the song's length (the noise walk spreads over it) and every
    bend's parameter values, which follow from the audio files."""
    settings = {**frames_key(picture.generation), **frames_key(job, inner=False),
                "bends": [frames_key(b) for b in picture.stem_bends()], "song_frames": n_frames}
    digest = hashlib.sha256()
    for d in drives:
        digest.update(np.ascontiguousarray(d.r, dtype=np.float64).tobytes())
        digest.update(b"-" if d.active is None else np.packbits(d.active).tobytes())
    return {"netbend": __version__, "settings": settings, "drives_sha256": digest.hexdigest()}


class FrameStore:
    """Finished frames as PNGs (``00000.png`` ...) in a folder, with the key of the settings
    that made them; frames made under other settings are never mixed in.

    While a store is open its folder is locked: a second render into the same folder stops
    with a message naming it. The lock is the operating system's (``flock``), so a render that
    was killed leaves no lock behind. Close the store (or use it as a context manager).
    """

    def __init__(self, folder: Path, key: dict, *, overwrite: bool, inputs: Inputs = ()):
        """``inputs``: (role, path) of the run's input files, none of which the store may own."""
        self.folder = folder
        if folder.exists() and not folder.is_dir():
            raise NetbendError(f"frames folder {folder} is a file")
        for role, source in inputs:  # the only files a store deletes are its frames and its record
            source = Path(source)
            if same_file(source.parent, folder) and _owned(source.name):
                raise NetbendError(f"--frames-dir {folder} holds {role} {source.name}, named like a frame; "
                                   "choose another folder")
        make_folder(folder)
        self._lock = _lock(folder)
        try:
            self._take(key, overwrite)
        except BaseException:
            self.close()
            raise

    def _take(self, key: dict, overwrite: bool) -> None:
        meta = self.folder / KEY_FILE
        key = json.loads(json.dumps(key))  # as it reads back from the file
        if not meta.exists() and any(self.folder.glob("[0-9][0-9][0-9][0-9][0-9].png")):
            raise NetbendError(f"frames folder {self.folder} holds files named like frames but no record of the "
                               "settings that made them (not netbend's frames); choose another folder")
        if meta.exists():
            kept = json.loads(meta.read_text())
            if kept != key:
                if not overwrite:
                    raise NetbendError(f"frames in {self.folder} were made with other settings ({_changed(kept, key)}); "
                                       "pass --overwrite to discard them, or use another --frames-dir")
                self._remove_frames()
        meta.write_text(json.dumps(key, indent=1))

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is not None and not any(self.folder.glob("[0-9][0-9][0-9][0-9][0-9].png")):
            self.remove()  # a render that failed before its first frame leaves no folder behind
        self.close()

    def path(self, i: int) -> Path:
        return self.folder / f"{i:05d}.png"

    def has(self, i: int) -> bool:
        return self.path(i).exists()

    def save(self, i: int, frame: np.ndarray | bytes) -> None:
        """Frame ``i``, uint8 (H, W, 3) or its PNG file's bytes (`png`), written whole or not at all."""
        tmp = self.folder / f".{i:05d}.tmp.png"
        tmp.write_bytes(frame if isinstance(frame, bytes) else png(frame))
        os.replace(tmp, self.path(i))

    def load(self, i: int) -> np.ndarray:
        """Frame ``i``, uint8 (H, W, 3)."""
        from PIL import Image

        return np.asarray(Image.open(self.path(i)).convert("RGB"))

    def close(self) -> None:
        """Let other renders use the folder."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def remove(self) -> None:
        """Delete the frames, the record of their settings and the lock, nothing else; the folder
        too if that empties it."""
        self._remove_frames()
        self.close()
        # a render that opened the lock file just before this unlinks it could lock the old file
        # while another makes a new one: a window of microseconds, only when a work folder goes
        (self.folder / LOCK_FILE).unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass  # the user's own files are there too

    def _remove_frames(self) -> None:  # the names are those of `_owned`
        for f in [*self.folder.glob("[0-9][0-9][0-9][0-9][0-9].png"), *self.folder.glob(".[0-9]*.tmp.png"),
                  self.folder / KEY_FILE]:
            f.unlink(missing_ok=True)


def png(frame: np.ndarray) -> bytes:
    """A frame (H, W, 3) uint8 as the bytes of the PNG file the store keeps."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(frame).save(out, format="PNG")
    return out.getvalue()


def _owned(name: str) -> bool:
    """Whether a file of this name in a frames folder is the store's: a frame, a frame being written, the record."""
    import re

    return name == KEY_FILE or re.fullmatch(r"\d{5}\.png|\.\d+\.tmp\.png", name) is not None


def _lock(folder: Path):
    import filelock

    lock = filelock.FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise NetbendError(f"frames folder {folder} is in use by another netbend render; wait for it to finish, "
                           "or give this one another --frames-dir (or output)") from None
    return lock


def _changed(kept: dict, key: dict) -> str:
    """The settings that differ between two keys, in words."""
    old, new = kept.get("settings", {}), key["settings"]
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if kept.get("drives_sha256") != key["drives_sha256"]:
        changed.append("the bends' parameter values (audio or driver)")
    if kept.get("netbend") != key["netbend"]:
        changed.append("netbend's version")
    return ", ".join(changed)
