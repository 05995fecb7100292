"""Audio: decoding, frame-aligned features, smoothing, and mapping onto operator parameters.

``netbend.audio`` itself holds the decoding and frame counting of `netbend.audio.io`;
`features`, `smoothing`, `mapping` and `drives` are its submodules.
"""

from .io import Audio, align, check_path, fps_fraction, frame_count, frame_slices, frames_of, load

__all__ = ["Audio", "align", "check_path", "fps_fraction", "frame_count", "frame_slices", "frames_of", "load"]
