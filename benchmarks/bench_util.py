"""What every benchmark prints and needs: where it ran, and a device sync before reading the clock."""

from __future__ import annotations

import platform
import subprocess
from datetime import date

import torch


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def where(device: str) -> str:
    """Card (or CPU), date, commit and torch version, for a result's heading."""
    card = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return f"{card}, {date.today()}, commit {commit}, torch {torch.__version__}"
