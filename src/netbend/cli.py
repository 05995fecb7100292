"""The ``netbend`` command line. The only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import NetbendError
from .parsing import parse_number

DEFAULT_MODEL = "CompVis/stable-diffusion-v1-4"  # = netbend.models.DEFAULT_MODEL, kept import-free for a fast --help
DEFAULT_ROWS = 9  # = netbend.grid.DEFAULT_ROWS


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    try:
        return int(w), int(h or w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH such as 512x512, got {text!r}") from None


def _pair(read, example: str):
    """An argparse type for ``A:B``, each read by ``read``."""

    def parse(text: str) -> tuple:
        a, _, b = text.partition(":")
        try:
            return read(a), read(b)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {example}, got {text!r}") from None

    return parse


_range = _pair(parse_number, "LO:HI such as 0:5 or 0:2pi")
_steps = _pair(int, "START:STOP such as 10:40")


def _add_model_args(g: argparse._ArgumentGroup, *, model: str, steps: int | None, size: tuple[int, int] | None,
                    batch: int = 1) -> None:
    """The flags that say how one image is generated, shared by render, demo and grid."""
    g.add_argument("--negative-prompt", default="", help="negative prompt for classifier-free guidance")
    g.add_argument("--model", default=model, help="Hugging Face id, local diffusers folder, .safetensors/.ckpt file, "
                                                   "or 'tiny' (built-in offline test model) (default: %(default)s)")
    g.add_argument("--steps", type=int, default=steps, help="denoising steps (default: %(default)s)")
    g.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale; <= 1 disables it (default: %(default)s)")
    g.add_argument("--scheduler", default="ddim", help="sampler: ddim, ddpm, euler, euler_a, dpmpp, unipc, lcm (default: %(default)s)")
    g.add_argument("--size", type=_size, default=size, metavar="WxH", help="image size in pixels, multiples of 8 (default: %s)"
                   % ("512x512" if size is None or size == (512, 512) else f"{size[0]}x{size[1]}"))
    g.add_argument("--seed", type=int, default=42, help="seed of the initial noise (default: %(default)s)")
    g.add_argument("--batch", type=int, default=batch, help="images per UNet call; results equal batch 1's up to float "
                                                             "rounding (default: %(default)s)")
    g.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default: %(default)s)")


def _add_output_args(p: argparse.ArgumentParser, output: str, overwrite: str, *, required: bool = True):
    """-o, --overwrite and --quiet, with what they mean for this command."""
    o = p.add_argument_group("output")
    o.add_argument("-o", "--output", required=required, default=None, help=output)
    o.add_argument("--overwrite", action="store_true", help=overwrite)
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    return o


def _add_generation_args(p: argparse.ArgumentParser, *, model: str, steps: int | None, size: tuple[int, int] | None,
                         op: str | None, for_render: bool = False) -> None:
    g = p.add_argument_group("generation")
    g.add_argument("--prompt", default="a floating orb", help="text prompt (default: %(default)r)")
    g.add_argument("--prompts", default=None, metavar="FILE",
                   help="prompt schedule: lines 'M:SS : prompt', embeddings interpolated between them (replaces --prompt)")
    g.add_argument("--interpolation", default="lerp", choices=["lerp", "slerp"],
                   help="between scheduled prompts (default: %(default)s, as the paper)")
    _add_model_args(g, model=model, steps=steps, size=size)
    g.add_argument("--fps", type=float, default=20.0, help="video frame rate; one audio slice per frame (default: %(default)s)")
    g.add_argument("--walk", type=float, default=0.2, help="noise-walk extent over the video, 2 = full circle (default: %(default)s)")
    b = p.add_argument_group("bend")
    b.add_argument("--op", default=op, metavar="CHAIN",
                   help="operator(s) bending the latent (or the --site): NAME[:key=value,...] joined by '|', e.g. rotate_r1 or "
                        "'dilate:k=4 | normalize_mean:axis=0'; list them with `netbend ops`"
                        + (f" (default: {op})" if op else " (default: no bend)"))
    b.add_argument("--feature", default="rms", help="audio feature driving the operator's parameter, e.g. rms, "
                   "percussive.onset, encodec:d=6 (list: netbend features --list) (default: %(default)s)")
    b.add_argument("--stem", default=None, metavar="FILE", help="read the feature from this audio file (a stem) "
                   "instead of the soundtrack")
    b.add_argument("--smooth", default=None, metavar="STEPS",
                   help="smoothing, in order, e.g. median:21,envelope:0.7,gate:0.05 (the paper's)")
    b.add_argument("--curve", default="linear", choices=["linear", "exp", "log"],
                   help="shape of the mapping from feature to parameter (default: %(default)s)")
    b.add_argument("--invert", action="store_true", help="map the feature's largest value to the range's low end")
    b.add_argument("--layer", type=int, default=None,
                   help="denoising step before which the latent is bent: 0 = initial noise, STEPS = final latent (default: STEPS)")
    b.add_argument("--site", default="latent", help="where the bend acts: latent (the paper's), or a module of the UNet "
                   "or VAE decoder such as unet.mid_block or vae.decoder.up_blocks.2, bent on its output "
                   "(list: netbend sites) (default: %(default)s)")
    b.add_argument("--steps-active", type=_steps, default=None, metavar="START:STOP",
                   help="UNet sites: the denoising steps during which the bend acts, a half-open range like a "
                        "Python slice (10:40 = steps 10..39; empty bends nothing) (default: all)")
    b.add_argument("--channels", default=None, metavar="WHICH",
                   help="the site's channels that are bent: all, a list 0,5,7, a range 0:64, a fraction 0.25 "
                        "(seeded), or cluster:C/K (cluster C, 0 = largest, of K by k-means over a calibration run; "
                        "see netbend sites --clusters K) (default: all)")
    b.add_argument("--range", type=_range, default=None, metavar="LO:HI",
                   help="parameter range the feature is mapped onto, pi allowed (default: the operator's, e.g. 0:2pi "
                        "for rotations); write --range=-1:1 when LO is negative")
    o = _add_output_args(p, "video file to write (.mp4); a sidecar .json goes beside it",
                         "replace an existing output (and kept frames made with other settings)", required=not for_render)
    if not for_render:
        return
    o.add_argument("--dump-scene", default=None, metavar="FILE",
                   help="write these settings as a YAML scene file and stop, without rendering")
    o.add_argument("--frames-dir", default=None, metavar="DIR",
                   help="keep every frame as a PNG here; rerunning the same command resumes at the first missing "
                        "frame (default: a work folder beside the output, removed after encoding)")
    o.add_argument("--start", type=float, default=0.0, help="render the excerpt from this time, seconds (default: 0)")
    o.add_argument("--duration", type=float, default=None, dest="excerpt_duration", metavar="SECONDS",
                   help="... this many seconds of it (default: to the end)")
    o.add_argument("--seeds", default=None, metavar="S1,S2,...",
                   help="render one video per seed (OUTPUT_seedN.mp4), or with --panels one panel per seed")
    o.add_argument("--panel-stems", default=None, metavar="A.wav,B.wav,...",
                   help="one panel per stem, side by side in one video, each driving the bend with its stem "
                        "(the paper's four-panel piece; combine with --seeds for one seed per panel)")
    o.add_argument("--panels", action="store_true", help="with --seeds: the seeds as panels of one video")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netbend",
        description="Music-reactive video by network bending Stable Diffusion: audio features drive "
                    "operators applied inside the denoising process.",
    )
    parser.add_argument("--version", action="version", version=f"netbend {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("render", help="render a music video from an audio file",
                       description="Render a music video: an audio feature drives an operator that bends the "
                                   "latent before one denoising step, frame by frame; the audio is muxed in.")
    r.add_argument("audio", help="soundtrack (WAV, FLAC, OGG, MP3, or anything FFmpeg decodes), or a scene "
                                 "file (.yaml) holding every setting and any number of bends")
    _add_generation_args(r, model=DEFAULT_MODEL, steps=50, size=(512, 512), op=None, for_render=True)
    r.set_defaults(run=_render)

    d = sub.add_parser("demo", help="render a short built-in demo offline (synthesized track, tiny model)",
                       description="Render an ~8 s synthesized track with a beat, bent by rotate_r1 driven by RMS. "
                                   "With the tiny model it runs offline on a CPU in about a minute; defaults are "
                                   "256x256 and 8 steps for the tiny model, 512x512 and 25 steps otherwise.")
    _add_generation_args(d, model="tiny", steps=None, size=None, op="rotate_r1")
    d.add_argument("--duration", type=float, default=8.0, help="length of the synthesized track in seconds (default: %(default)s)")
    d.set_defaults(run=_demo)

    f = sub.add_parser("features", help="analyse audio into per-frame features: CSV, plot, summary",
                       description="Compute audio features per video frame (one non-overlapping slice of sr/fps "
                                   "samples each), optionally smoothed; write a CSV and a plot.")
    f.add_argument("audio", nargs="?", help="audio file")
    f.add_argument("--list", action="store_true", help="list the features and their options")
    f.add_argument("--feature", default="rms", help="comma-separated features (default: %(default)s)")
    f.add_argument("--fps", type=float, default=20.0, help="video frame rate (default: %(default)s)")
    f.add_argument("--smooth", default=None, metavar="STEPS", help="smoothing, e.g. median:21,envelope:0.7,gate:0.05")
    f.add_argument("--stem", default=None, metavar="FILE", help="read the features from this file instead")
    f.add_argument("--csv", default=None, help="write the values here, one row per frame")
    f.add_argument("--plot", default=None, help="write a PNG with one panel per feature, raw and smoothed")
    f.add_argument("--smoothed", action="store_true", help="CSV holds smoothed values instead of raw ones")
    f.set_defaults(run=_features)

    gr = sub.add_parser("grid", help="a figure grid: one operator across layers (columns) and values (rows)",
                        description="Render the paper's kind of figure: one column per layer (the denoising step "
                                    "before which the latent is bent, or during which a --site module is), one row "
                                    "per value of the operator's parameter "
                                    "(or of one of its options), same prompt and seed in every cell. Cell (L, v) equals "
                                    "the one-frame render with the bend at layer L and r = v (exactly with --batch 1, up to float "
                                    "rounding otherwise). The cells share the "
                                    "unbent trajectory up to their layer, which is computed once.")
    gg = gr.add_argument_group("grid")
    gg.add_argument("--op", required=True, metavar="CHAIN", help="operator(s), as in render, e.g. rotate_r1 or "
                    "'dilate:k=4 | normalize_mean'")
    gg.add_argument("--layers", default=None, help="columns: a list 0,10,20 or START:STOP:STEP with STOP included "
                    "(0:50:5 = 0,5,...,50); each within 0..STEPS for the latent, 0..STEPS-1 for a UNet site, none "
                    "for a VAE site (default: 0, STEPS/5, ..., STEPS-1, the paper's 0,10,20,30,40,49 for 50 steps)")
    gg.add_argument("--values", default=None, help="rows: values of r, a list 0,pi/2,pi or START:STOP:COUNT with "
                    "both ends included (0:2pi:9 = 0, pi/4, ..., 2pi); write --values=-1:1:5 or --values=-1,0,1 "
                    f"when the first is negative (default: the operator's range in {DEFAULT_ROWS} values; with "
                    "--option, one value: the r of every row)")
    gg.add_argument("--option", default=None, metavar="KEY=V1,V2,...", help="rows vary this option of the chain "
                    "instead, e.g. channel=0,1,2,3 for reflect or normalize_mean.axis=0,1,2")
    gg.add_argument("--site", default="latent", help="where the bend acts: latent (columns: the step before which it "
                    "is bent), a UNet module (columns: the step during which it is bent, 0..STEPS-1) or a VAE-decoder "
                    "module (one column: decode) (default: %(default)s)")
    gg.add_argument("--channels", default=None, metavar="WHICH", help="the site's channels that are bent, as in "
                    "render (default: all)")
    g = gr.add_argument_group("generation")
    g.add_argument("--prompt", default="a floating orb", help="text prompt (default: %(default)r)")
    _add_model_args(g, model=DEFAULT_MODEL, steps=50, size=(512, 512), batch=8)
    _add_output_args(gr, "the grid image (.png); each cell also goes to NAME/layer{L}_{row}.png and a record of the "
                         "settings to NAME.json", "replace an existing grid and its cells")
    gr.set_defaults(run=_grid)

    st = sub.add_parser("sites", help="list a model's bending sites: name, output shape, channels",
                        description="The modules of the UNet and VAE decoder that a bend can act on (--site), with "
                                    "their output shape at --size, a block before its parts. A bend acts on a module's "
                                    "output; a down block's skip connections stay unbent (bend its resnets or "
                                    "downsampler to reach them). With --clusters K, each site's channels are grouped "
                                    "by k-means of their feature maps over a short calibration run (4 noises, 10 DDIM "
                                    "steps, as Broad et al. clustered StyleGAN2's); the cluster sizes are listed and a "
                                    "preview of each cluster's mean feature map is saved per site. A render's "
                                    "--channels cluster:C/K matches them when model, size, seed and prompt match.")
    st.add_argument("--model", default=DEFAULT_MODEL, help="as in render (default: %(default)s)")
    st.add_argument("--size", type=_size, default=(512, 512), metavar="WxH", help="image size (default: 512x512)")
    st.add_argument("--site", default=None, metavar="S1,S2,...", help="only these sites (default: all)")
    st.add_argument("--clusters", type=int, default=None, metavar="K", help="group each site's channels into K clusters")
    st.add_argument("--prompt", default="a floating orb", help="prompt of the calibration run (default: %(default)r)")
    st.add_argument("--seed", type=int, default=42, help="seed of the calibration run and of k-means (default: %(default)s)")
    st.add_argument("--preview", default="sites-preview", metavar="DIR",
                    help="with --clusters: where each site's cluster preview goes (default: %(default)s)")
    st.add_argument("--device", default="auto", help="as in render (default: %(default)s)")
    st.set_defaults(run=_sites)

    o = sub.add_parser("ops", help="list the operators, or show one with its options",
                       description="The operator registry: family, parameter, default range of the audio mapping, "
                                   "description. Chains: NAME[:key=value,...] | NAME ...")
    o.add_argument("name", nargs="?", help="show this operator with its options")
    o.set_defaults(run=_ops)
    return parser


def _settings(args: argparse.Namespace, audio: str, scene: bool = False):
    """RenderSettings from the flags; ``scene``: for comparing flags only (output may be missing)."""
    from .render import RenderSettings

    prompts = None
    if args.prompts:
        try:
            prompts = Path(args.prompts).read_text()
        except OSError as e:
            raise NetbendError(f"cannot read --prompts {args.prompts}: {e.strerror}") from None
    return RenderSettings(
        audio=audio, output=args.output or ("" if scene else None), prompt=args.prompt, prompts=prompts, interpolation=args.interpolation,
        negative_prompt=args.negative_prompt, op=args.op,
        feature=args.feature, stem=args.stem, smooth=args.smooth, curve=args.curve, invert=args.invert,
        layer=args.layer, range=args.range, site=args.site, steps_active=args.steps_active, channels=args.channels,
        steps=args.steps, guidance=args.guidance,
        scheduler=args.scheduler, model=args.model, fps=args.fps, seed=args.seed, size=args.size, walk=args.walk,
        batch=args.batch, device=args.device, overwrite=args.overwrite,
        frames_dir=getattr(args, "frames_dir", None), start=getattr(args, "start", 0.0),
        duration=getattr(args, "excerpt_duration", None),
    )


SCENE_SUFFIXES = (".yaml", ".yml")


def _render(args: argparse.Namespace) -> None:
    import dataclasses

    from . import scene
    from .render import render

    if Path(args.audio).suffix.lower() in SCENE_SUFFIXES:
        settings = scene.load(args.audio, **_given_flags(args))
    else:
        if not args.output:
            raise NetbendError("give -o/--output (or render a scene file that names its output)")
        settings = _settings(args, args.audio)
    if args.panel_stems or args.panels:
        settings = _with_panels(settings, args.panel_stems, args.seeds)
        args.seeds = None
    if args.dump_scene:
        if args.seeds:
            raise NetbendError("a scene holds one video: with --seeds, add --panels to dump the seeds as panels")
        from .paths import check_output

        check_output(Path(args.dump_scene), overwrite=args.overwrite)
        scene.check_inputs(dataclasses.replace(settings, overwrite=True))
        path = scene.dump(settings, args.dump_scene)
        print(f"wrote {path}; render it with: netbend render {path}")
        return
    _quiet_libraries()
    runs = _per_seed(settings, args.seeds)
    for run in runs:
        if len(runs) > 1 and _already_rendered(run):
            print(f"kept {run.output}: rendered before with these settings")
            continue
        result = render(run, progress=not args.quiet)
        print(f"wrote {result.video} ({result.n_frames} frames), {result.sidecar}"
              + (f" and {result.plot}" if result.plot else ""))


def _given_flags(args: argparse.Namespace) -> dict:
    """The settings the command line gives explicitly (not left at their defaults): they
    override a scene file's."""
    import dataclasses

    defaults = build_parser().parse_args(["render", args.audio])
    given = _settings(args, args.audio, scene=True)
    base = _settings(defaults, args.audio, scene=True)
    out = {f.name: getattr(given, f.name) for f in dataclasses.fields(given)
           if getattr(given, f.name) != getattr(base, f.name)}
    bend_keys = ("op", "feature", "stem", "smooth", "curve", "invert", "layer", "range", "site", "steps_active", "channels")
    if any(k in out for k in bend_keys) and "op" not in out:
        raise NetbendError("--feature, --layer, --site ... configure the flags' bend: give --op too (a scene's "
                           "bends are set in the scene)")
    return out


def _with_panels(settings, stems: str | None, seeds: str | None):
    """Settings whose panels are the given stems and/or seeds, paired in order."""
    import dataclasses

    stem_list = [s.strip() for s in (stems or "").split(",") if s.strip()]
    seed_list = _seed_list(seeds) if seeds else []
    if not stem_list and not seed_list:
        raise NetbendError("--panels tiles the --seeds: give --seeds (or --panel-stems)")
    if stem_list and not settings.all_bends():
        raise NetbendError("--panel-stems drive the bend of --op with each stem: give --op")
    if stem_list and seed_list and len(stem_list) != len(seed_list):
        raise NetbendError(f"--panel-stems gives {len(stem_list)} stems but --seeds {len(seed_list)} seeds")
    count = max(len(stem_list), len(seed_list))
    panels = [{**({"stem": stem_list[i]} if stem_list else {}), **({"seed": seed_list[i]} if seed_list else {})}
              for i in range(count)]
    return dataclasses.replace(settings, panels=panels)


def _seed_list(seeds: str) -> list[int]:
    try:
        values = [int(v) for v in seeds.split(",") if v.strip()]
    except ValueError:
        raise NetbendError(f"--seeds must be integers separated by commas, got {seeds!r}") from None
    if not values:
        raise NetbendError("--seeds is empty")
    return values


def _already_rendered(settings) -> bool:
    """Whether the output exists with a sidecar recording exactly these settings (so a
    ``--seeds`` run that was interrupted goes on with the seeds not yet done)."""
    import dataclasses
    import json

    out = Path(settings.output)
    sidecar = out.with_suffix(".json")
    if not (out.exists() and sidecar.exists()):
        return False
    try:
        kept = json.loads(sidecar.read_text())["settings"]
    except (OSError, ValueError, KeyError):
        return False
    now = json.loads(json.dumps(dataclasses.asdict(settings)))
    return {k: v for k, v in kept.items() if k != "overwrite"} == {k: v for k, v in now.items() if k != "overwrite"}


def _per_seed(settings, seeds: str | None) -> list:
    """One settings per seed of ``--seeds``, each writing OUTPUT_seedN (and its own frames folder)."""
    import dataclasses

    if not seeds:
        return [settings]
    values = _seed_list(seeds)
    out = Path(settings.output)
    runs = []
    for seed in values:
        frames_dir = str(Path(settings.frames_dir) / f"seed{seed}") if settings.frames_dir else None
        runs.append(dataclasses.replace(settings, seed=seed, output=str(out.with_name(f"{out.stem}_seed{seed}{out.suffix}")),
                                        frames_dir=frames_dir))
    from .scene import check_inputs

    for run in runs:  # all of them, before the first starts
        if not _already_rendered(run):
            check_inputs(run)
    return runs


def _demo(args: argparse.Namespace) -> None:
    import soundfile

    from . import demo
    from .paths import check_output
    from .render import render

    tiny = args.model == "tiny"
    if args.steps is None:
        args.steps = 8 if tiny else 25
    if args.size is None:
        args.size = (256, 256) if tiny else (512, 512)
    out = Path(args.output)
    wav = out.with_suffix(".wav")  # kept beside the video so the track can be rendered again
    if not 0 < args.duration < 3600:
        raise NetbendError(f"--duration must be between 0 and 3600 seconds, got {args.duration}")
    settings = _settings(args, str(wav))
    check_output(wav, overwrite=args.overwrite)
    _quiet_libraries()
    out.parent.mkdir(parents=True, exist_ok=True)
    sr = 44100
    soundfile.write(wav, demo.track(duration=args.duration, sr=sr).T, sr)
    try:
        result = render(settings, progress=not args.quiet)  # checks the settings first
    except BaseException:
        wav.unlink(missing_ok=True)  # the track belongs to a video that was not made
        raise
    print(f"wrote {result.video} ({result.n_frames} frames), {result.sidecar} and the track {wav}")


def _grid(args: argparse.Namespace) -> None:
    from .grid import GridSettings, parse_layers, parse_option, parse_values, render_grid

    settings = GridSettings(
        op=args.op, output=args.output, layers=None if args.layers is None else parse_layers(args.layers),
        values=None if args.values is None else parse_values(args.values),
        option=None if args.option is None else parse_option(args.option),
        prompt=args.prompt, negative_prompt=args.negative_prompt, model=args.model, steps=args.steps,
        guidance=args.guidance, scheduler=args.scheduler, size=args.size, seed=args.seed, batch=args.batch,
        device=args.device, overwrite=args.overwrite, site=args.site, channels=args.channels)
    _quiet_libraries()
    g = render_grid(settings, progress=not args.quiet)
    plural = lambda n, word: f"{n} {word}" + ("s" if n != 1 else "")  # noqa: E731
    print(f"wrote {g.files['grid']} ({plural(len(g.layers), 'column')} x {plural(len(g.rows), 'row')}), the cells in "
          f"{g.files['cells']}/ "
          f"and {g.files['sidecar']}")
    print(f"UNet evaluations: {g.unet_evaluations} on the shared trajectory, against {g.naive_evaluations} for one "
          f"generation per cell ({g.naive_evaluations / g.unet_evaluations:.2f}x fewer); {g.seconds:.1f} s")


def _sites(args: argparse.Namespace) -> None:
    from . import models, sites
    from .scene import check_size

    only = None if args.site is None else [v.strip() for v in args.site.split(",") if v.strip()]
    for name in only or []:
        sites.kind(name)
    if args.clusters is not None and args.clusters < 2:
        raise NetbendError(f"--clusters must be at least 2, got {args.clusters}")
    if not 0 <= args.seed < 2**63:
        raise NetbendError(f"--seed must be in [0, 2**63), got {args.seed}")
    check_size(args.size)
    _quiet_libraries()
    model = models.load(args.model, device=args.device)
    for name in only or []:
        if name != sites.LATENT:
            sites.module(model, name)
    shapes = {n: info.shape for n, info in sites.probe(model, args.size, only).items()}
    if only is None or sites.LATENT in only:
        shapes = {sites.LATENT: model.latent_shape(*args.size), **shapes}
    clusters = None
    if args.clusters is not None:
        few = [n for n in (only or []) if n != sites.LATENT and shapes[n][0] < args.clusters]
        if few:
            raise NetbendError(f"site {few[0]} has {shapes[few[0]][0]} channels, too few for {args.clusters} clusters")
        # listing all: sites with too few channels (and the latent) show '-'
        wanted = [n for n, shape in shapes.items() if n != sites.LATENT and shape[0] >= args.clusters]
        clusters = sites.calibrate(model, wanted, args.clusters, prompt=args.prompt, size=args.size, seed=args.seed,
                                   progress=True)
    print(sites.describe(shapes, clusters))
    if clusters:
        paths = sites.save_previews(clusters, Path(args.preview))
        print(f"\ncluster previews in {args.preview}/, one image per site ({len(paths)}). A render with "
              f"--channels cluster:C/{args.clusters} clusters the same way when its model, --size, --seed and "
              "(first) prompt are these.")


def _features(args: argparse.Namespace) -> None:
    from .analysis import describe_features, run_features

    if args.list:
        print(describe_features())
        return
    if not args.audio:
        raise NetbendError("give an AUDIO file (or --list)")
    print(run_features(args.audio, feature_list=args.feature, fps=args.fps, smooth=args.smooth, stem=args.stem,
                       csv=args.csv, plot=args.plot, smoothed=args.smoothed))


def _ops(args: argparse.Namespace) -> None:
    from .operators import describe

    print(describe(args.name))


def _quiet_libraries() -> None:
    # diffusers and transformers log advice meant for their own developers at warning level
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except NetbendError as e:
        if os.environ.get("NETBEND_DEBUG"):
            raise
        print(f"netbend: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netbend: interrupted", file=sys.stderr)
        return 130
    return 0
