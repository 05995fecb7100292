"""What a running job tells whoever started it: progress and notes, as events.

A job takes ``report``, a callable given each `Event` as it happens. The command line shows
them as progress bars (`netbend.cli`); a browser studio or a cluster runner consumes the same
events. A `Progress` of a task whose ``done`` reaches ``total`` ends that task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of one task (``out.mp4``, ``out.mp4 panel 1``, ``calibrating channels``)."""

    task: str
    done: int
    total: int
    unit: str = "frame"


@dataclass(frozen=True)
class Note:
    """Something a user should read: a video kept from an earlier run, a file written."""

    text: str


@dataclass(frozen=True)
class Stage:
    """Work whose length is not known, starting now (loading a model)."""

    text: str


Event = Union[Progress, Note, Stage]
Report = Callable[[Event], None]


def silent(event: Event) -> None:
    """A report that drops every event."""


def steps(report: Report, task: str, unit: str = "step") -> Callable[[int, int], None]:
    """A ``(done, total)`` callback, as the generation code takes one, reporting `Progress` of ``task``."""
    return lambda done, total: report(Progress(task, done, total, unit))


class Counter:
    """Progress of one task, reported as it advances: ``Counter(report, task, total).add(n)``."""

    def __init__(self, report: Report, task: str, total: int, *, done: int = 0, unit: str = "frame"):
        self.report, self.task, self.total, self.done, self.unit = report, task, total, done, unit
        report(Progress(task, done, total, unit))

    def add(self, n: int = 1) -> None:
        self.done += n
        self.report(Progress(self.task, self.done, self.total, self.unit))
