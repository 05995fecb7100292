"""netbend: music-reactive video by network bending Stable Diffusion.

Submodules are imported on use (``from netbend import operators``), so that the command
line starts fast and importing netbend loads no model and no heavy library.
"""

from .errors import NetbendError

__version__ = "0.6.0"
__all__ = ["NetbendError", "__version__"]
