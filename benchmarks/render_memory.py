"""Peak memory of a render against the song's length (tiny model, CPU).

Renders a 4 s and a 40 s synthetic song (10x longer) in separate processes and prints each
process's peak resident memory: frames stream to disk and to the encoder, and nothing per
frame is held for the whole song, so the two should differ by a small constant.

    python benchmarks/render_memory.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

CHILD = """
import resource, sys
from netbend.cli import main
code = main(sys.argv[1:])
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def peak_kib(seconds: float, folder: Path) -> int:
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    wav = folder / f"song{seconds:g}.wav"
    soundfile.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(t))).astype(np.float32), sr)
    args = ["render", str(wav), "-o", str(folder / f"v{seconds:g}.mp4"), "--model", "tiny", "--steps", "2",
            "--size", "128x128", "--fps", "10", "--op", "rotate_r1", "--quiet", "--device", "cpu",
            "--prompts", str(folder / "prompts.txt")]
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True).stdout
    return int(out.split("PEAK_KIB")[1].split()[0])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "prompts.txt").write_text("0:00 : a floating orb\n0:02 : a crane\n0:20 : a forest\n")
        short, long = peak_kib(4.0, folder), peak_kib(40.0, folder)
    print("peak resident memory of `netbend render` (tiny model, 128x128, 10 fps, CPU)")
    print(f"  4 s song  (40 frames):  {short / 1024:7.1f} MiB")
    print(f"  40 s song (400 frames): {long / 1024:7.1f} MiB")
    print(f"  difference: {(long - short) / 1024:.1f} MiB for 10x the length")


if __name__ == "__main__":
    main()
