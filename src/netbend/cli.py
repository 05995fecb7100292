"""The ``netbend`` command line: parses arguments, calls the library, prints.

Every flag comes from a setting's declaration (`netbend.settings`); this is the only place
that turns errors into exit codes and one-line messages.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from . import __version__
from .errors import NetbendError
from .jobs.events import Event, Note, Stage
from .settings import Bend, DemoJob, FeaturesJob, Generation, GridJob, RenderJob, SitesJob
from .settings.commands import demo_help
from .settings.presets import PresetChoice
from .settings.flags import add_flags, given


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netbend", description="Music-reactive video by network bending Stable Diffusion: audio features drive "
                                    "operators applied inside the denoising process.")
    parser.add_argument("--version", action="version", version=f"netbend {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, description, flags, run) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=description)
        flags(p)
        p.set_defaults(run=run)
    return parser


def _render_command(p: argparse.ArgumentParser) -> None:
    add_flags(p, PresetChoice, group="generation")
    _render_flags(p, skip=(), defaults={"op": "no bend"})
    extra = p.add_argument_group("more")
    extra.add_argument("--dump-scene", metavar="FILE", help="write these settings as a YAML scene file and stop, "
                                                             "without rendering")
    extra.add_argument("--panel-stems", metavar="A.wav,B.wav,...", help="one panel per stem, side by side in one "
                       "video, each driving the bend with its stem (the paper's four-panel piece; combine with "
                       "--seeds for one seed per panel)")
    extra.add_argument("--panels", dest="tile_panels", action="store_true",
                       help="with --seeds: the seeds as panels of one video")


def _demo_command(p: argparse.ArgumentParser) -> None:
    add_flags(p, PresetChoice, group="generation", defaults={"preset": None})
    _render_flags(p, skip=("audio", "start", "duration", "frames_dir", "seeds"), defaults=demo_help())
    add_flags(p, DemoJob, group="demo")


def _grid_command(p: argparse.ArgumentParser) -> None:
    add_flags(p, GridJob, group="grid", inner=False, required=("op", "output"))
    add_flags(p, PresetChoice, group="generation")
    add_flags(p, Generation, group="generation", skip=GridJob.IGNORED)
    _quiet(p)


def _render_flags(p: argparse.ArgumentParser, *, skip: tuple[str, ...], defaults: dict) -> None:
    """A render job's flags in three groups: generation, bend, and the job's own."""
    add_flags(p, Generation, group="generation", skip=skip, defaults=defaults)
    add_flags(p, Bend, group="bend", skip=skip, defaults=defaults)
    add_flags(p, RenderJob, group="output", inner=False, skip=skip, defaults=defaults,
              required=("output",) if "audio" in skip else ())
    _quiet(p)


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


class Bars:
    """Progress events as tqdm bars (on stderr), one per task; notes as lines; stages as lines on
    stderr. Close it before printing anything else there."""

    def __init__(self, quiet: bool):
        self.quiet, self.bars = quiet, {}

    def __call__(self, event: Event) -> None:
        from tqdm.auto import tqdm

        if isinstance(event, Note):
            tqdm.write(event.text)
        elif isinstance(event, Stage):
            if not self.quiet:
                tqdm.write(event.text, file=sys.stderr)
        else:
            bar = self.bars.get(event.task)
            if bar is None:
                bar = self.bars[event.task] = tqdm(total=event.total, initial=event.done, unit=event.unit,
                                                   desc=event.task, disable=self.quiet)
            bar.update(event.done - bar.n)
            if event.done >= event.total:
                self.bars.pop(event.task).close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _render(args: argparse.Namespace, report: Bars) -> None:
    from .settings.flags import render_job

    job, notes = render_job(args)
    for note in notes:
        report(Note(note))
    if args.panel_stems or args.tile_panels:
        stems = [s.strip() for s in (args.panel_stems or "").split(",") if s.strip()]
        job = job.with_panels(stems, job.seeds or [])
    if args.dump_scene:
        from .paths import check_output
        from .settings import scene

        check_output(Path(args.dump_scene), overwrite=job.overwrite, inputs=job.inputs(), flag="--dump-scene")
        dataclasses.replace(job, overwrite=True).check()
        path = scene.dump(job, args.dump_scene)
        print(f"wrote {path}; render it with: netbend render {path}")
        return
    _quiet_libraries()
    from .jobs.render import render

    for result in render(job, report=report):
        if not result.kept:
            print(f"wrote {result.video} ({result.n_frames} frames), {result.sidecar}"
                  + (f" and {result.plot}" if result.plot else ""))


def _demo(args: argparse.Namespace, report: Bars) -> None:
    from .jobs.demo import demo
    from .settings.scene import from_mapping

    _quiet_libraries()
    result, wav = demo(from_mapping(DemoJob, given(args, DemoJob)), given(args, RenderJob), given(args, Bend),
                       preset=given(args, PresetChoice).get("preset"), report=report)
    print(f"wrote {result.video} ({result.n_frames} frames), {result.sidecar} and the track {wav}")


def _grid(args: argparse.Namespace, report: Bars) -> None:
    from .jobs.grid import render_grid
    from .settings.scene import from_mapping

    from .settings.presets import expand

    data, notes = expand(given(args, PresetChoice).get("preset"), given(args, GridJob), GridJob, skip=GridJob.IGNORED)
    for note in notes:
        report(Note(note))
    job = from_mapping(GridJob, data)
    _quiet_libraries()
    g = render_grid(job, report=report)
    plural = lambda n, word: f"{n} {word}" + ("s" if n != 1 else "")  # noqa: E731
    print(f"wrote {g.files['grid']} ({plural(len(g.layers), 'column')} x {plural(len(g.rows), 'row')}), the cells in "
          f"{g.files['cells']}/ and {g.files['sidecar']}")
    print(f"UNet evaluations: {g.unet_evaluations} on the shared trajectory, against {g.naive_evaluations} for one "
          f"generation per cell ({g.naive_evaluations / g.unet_evaluations:.2f}x fewer); {g.seconds:.1f} s")


def _sites(args: argparse.Namespace, report: Bars) -> None:
    from .jobs.sites import run_sites
    from .settings.scene import from_mapping

    job = from_mapping(SitesJob, given(args, SitesJob))
    _quiet_libraries()
    print(run_sites(job, report=report))


def _features(args: argparse.Namespace, report: Bars) -> None:
    from .jobs.features import describe_features, run_features
    from .settings.scene import from_mapping

    job = from_mapping(FeaturesJob, given(args, FeaturesJob))
    print(describe_features() if job.list_features else run_features(job))


def _presets(args: argparse.Namespace, report: Bars) -> None:
    from .settings.presets import describe

    print(describe(args.name))


def _studio(args: argparse.Namespace, report: Bars) -> None:
    from .settings.scene import from_mapping
    from .settings.studio import StudioJob

    job = from_mapping(StudioJob, given(args, StudioJob))
    job.check()
    try:
        from .studio.app import launch
    except ImportError as e:
        raise NetbendError(f"the studio needs its extra: pip install 'netbend[studio]' ({e.name} is missing)") from None
    _quiet_libraries()
    print(f"netbend studio on http://{job.host}:{job.port} (Ctrl-C stops it)")
    launch(job)


def _ops(args: argparse.Namespace, report: Bars) -> None:
    from .operators import describe

    print(describe(args.name))


COMMANDS = {  # name: (summary, description, flags, run)
    "render": ("render a music video from an audio file",
               "Render a music video: an audio feature drives an operator that bends the latent before one denoising "
               "step (or a network module), frame by frame; the audio is muxed in. Flags given with a scene file "
               "replace its settings.", _render_command, _render),
    "demo": ("render a short built-in demo offline (synthesized track, the trained tiny model)",
             "Render a synthesized track with a beat, drawn by the built-in tiny-trained model and bent by rotate_r1 "
             "driven by RMS. It runs offline on a CPU in about a minute.", _demo_command, _demo),
    "features": ("analyse audio into per-frame features: CSV, plot, summary",
                 "Compute audio features per video frame (one non-overlapping slice of sr/fps samples each), "
                 "optionally smoothed; write a CSV and a plot.", lambda p: add_flags(p, FeaturesJob), _features),
    "grid": ("a figure grid: one operator across layers (columns) and values (rows)",
             "Render the paper's kind of figure: one column per layer (the denoising step before which the latent is "
             "bent, or during which a --site module is), one row per value of the operator's parameter (or of one of "
             "its options), same prompt and seed in every cell. Cell (L, v) equals the one-frame render with the bend "
             "at layer L and r = v (exactly with --batch 1, up to float rounding otherwise). The cells share the "
             "unbent trajectory up to their layer, which is computed once.", _grid_command, _grid),
    "sites": ("list a model's bending sites: name, output shape, channels",
              "The modules of the UNet and VAE decoder that a bend can act on (--site), with their output shape at "
              "--size, a block before its parts. A bend acts on a module's output; a down block's skip connections "
              "stay unbent (bend its resnets or downsampler to reach them). With --clusters K, each site's channels "
              "are grouped by k-means of their feature maps over a short calibration run (4 noises, 10 DDIM steps, as "
              "Broad et al. clustered StyleGAN2's); the cluster sizes are listed and a preview of each cluster's mean "
              "feature map is saved per site. A render's --channels cluster:C/K matches them when model, size, seed "
              "and prompt match.", lambda p: add_flags(p, SitesJob), _sites),
    "presets": ("list the presets (dafx, jaes, turbo) with their values",
                "The presets: settings of the paper's two pipelines (DAFx 2024: DDIM 50 steps with guidance and the "
                "full VAE; JAES 2025: LCM-LoRA, four chosen timesteps, one UNet pass per step, TAESD) and of SD-Turbo. "
                "render, demo and grid take --preset NAME; flags and scene keys override its values.",
                lambda p: p.add_argument("name", nargs="?", help="show this preset only"), _presets),
    "studio": ("open the browser studio: hear, see and tweak before spending GPU hours",
               "A browser app over the same library: upload a song, shape the driver and see its plot, choose bends "
               "and prompts, preview a short excerpt, render grids and the video, load and save scene files. Listens "
               "on 127.0.0.1 unless --host says otherwise (which needs --auth).",
               lambda p: add_flags(p, _studio_settings()), _studio),
    "ops": ("list the operators, or show one with its options",
            "The operator registry: family, parameter, default range of the audio mapping, description. Chains: "
            "NAME[:key=value,...] | NAME ...", lambda p: p.add_argument("name", nargs="?", help="show this operator "
                                                                        "with its options"), _ops),
}


def _studio_settings() -> type:
    from .settings.studio import StudioJob

    return StudioJob


def _quiet_libraries() -> None:
    # diffusers and transformers log advice meant for their own developers at warning level
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    # their loading bars (transformers 5.17 draws "Loading weights" on stderr) would come before netbend's own
    # bars and one-line errors
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    bars = Bars(quiet=True)
    try:
        args = build_parser().parse_args(argv)
        bars.quiet = getattr(args, "quiet", False)
        args.run(args, bars)
    except NetbendError as e:
        bars.close()  # the message goes on a line of its own, not after a bar
        if os.environ.get("NETBEND_DEBUG"):
            raise
        print(f"netbend: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bars.close()
        print("netbend: interrupted", file=sys.stderr)
        return 130
    finally:
        bars.close()
    return 0
