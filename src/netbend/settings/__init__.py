"""Settings declared once: what a frame is made from, a bend, and the jobs that use them.

Each field is declared with its default, help, flag, choices and checks (`declare.setting`);
the command line (`flags`), scene files and the sidecar (`scene`) and the frame-store key are
made from these declarations. Each job is checked by its one ``check()`` where it starts.
"""

from .bend import Bend
from .commands import DemoJob, FeaturesJob, SitesJob
from .declare import Names, setting
from .generation import DEFAULT_MODEL, Generation
from .grid import GridJob
from .render import Panel, RenderJob

__all__ = ["DEFAULT_MODEL", "Bend", "DemoJob", "FeaturesJob", "Generation", "GridJob", "Names", "Panel", "RenderJob",
           "SitesJob", "setting"]
