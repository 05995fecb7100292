"""`netbend studio`: the browser app (Gradio) over `netbend.studio.work.Studio`.

Named API endpoints, kept stable for scripts and tests (``gradio_client``):
``/features`` (audio, feature, smoothing, range, fps -> plot PNG, CSV), ``/render`` (audio,
scene YAML -> video, sidecar JSON), ``/grid`` (scene-like YAML -> PNG).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, Callable

import yaml

from ..errors import NetbendError, first_words
from ..jobs.events import Progress
from ..settings.generation import parse_size
from ..settings.studio import StudioJob
from . import form
from .work import Studio

PREVIEW = {"start": 0.0, "seconds": 2.0, "size": "128x128"}  # a short excerpt at a small size


def guarded(fn: Callable) -> Callable:
    """``fn`` with netbend's errors shown as the page's one-line message (never a traceback)."""
    import inspect

    import gradio as gr

    def message(e: Exception) -> gr.Error:
        text = str(e) if isinstance(e, NetbendError) else f"{type(e).__name__}: {first_words(e)}"
        return gr.Error(text, print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args: Any, **kw: Any) -> Any:
            try:
                yield from fn(*args, **kw)
            except Exception as e:
                raise message(e) from None
        return gen

    @functools.wraps(fn)
    def call(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except Exception as e:
            raise message(e) from None
    return call


def scene_text(extra_bends: str, *values: Any) -> str:
    """The form (and the extra bends' YAML list) as a scene's YAML."""
    data = form.to_mapping({item.elem_id: v for item, v in zip(form.items(), values)})
    more = yaml.safe_load(extra_bends or "") or []
    if not isinstance(more, list):
        raise NetbendError("more bends must be a YAML list of bends (- op: ...)")
    if more:
        data["bends"] = data.get("bends", []) + more
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def scene_from_form(current: str, extra_bends: str, *values: Any) -> str:
    """The form laid over the scene it came from: the form wins for the settings it shows; the
    scene's other settings (panels, seeds, a bend's stem or constant, ...) stay as they were."""
    base = yaml.safe_load(current or "") or {}
    base = base if isinstance(base, dict) else {}
    data = yaml.safe_load(scene_text(extra_bends, *values)) or {}
    shown = {item.name: item.section for item in form.items()}
    out = {k: v for k, v in base.items() if shown.get(k, "bend") == "bend" and k != "bends"}
    out.update({k: v for k, v in data.items() if k != "bends"})
    bends, old = data.get("bends") or [], base.get("bends") or []
    if bends and old and isinstance(old[0], dict):
        bends[0] = {**{k: v for k, v in old[0].items() if shown.get(k) != "bend"}, **bends[0]}
    if bends:
        out["bends"] = bends
    return yaml.safe_dump(out, sort_keys=False, allow_unicode=True)


def form_values(text: str) -> list[Any]:
    """A scene's YAML as the form's values, in the form's order, then the extra bends' YAML."""
    data = yaml.safe_load(text or "") or {}
    if not isinstance(data, dict):
        raise NetbendError("a scene is a mapping of settings")
    values = form.from_mapping(data)
    more = (data.get("bends") or [])[1:]
    return [values[item.elem_id] for item in form.items()] + [yaml.safe_dump(more, sort_keys=False) if more else ""]


class Page(dict):
    """The page's components by name (``page.song``, ``page.fields["bend-op"]``)."""

    __getattr__ = dict.__getitem__


def build(studio: Studio) -> Any:
    """The page: song and driver, the form, preview, grid, render, scenes."""
    import gradio as gr

    with gr.Blocks(title="netbend studio") as blocks:
        page = _layout(studio)
        _wire_driver(studio, page)
        _wire_frames(studio, page)
        _wire_scenes(studio, page)
    return blocks


def _layout(studio: Studio) -> Page:
    import gradio as gr

    c = Page()
    gr.Markdown("# netbend studio\nMusic-reactive video by network bending Stable Diffusion.")
    with gr.Row():
        c["song"] = gr.Audio(type="filepath", label="song", elem_id="song")
        with gr.Column():
            c["plot"] = gr.Image(label="driver: raw feature, smoothed, and the operator's parameter per frame",
                                 elem_id="driver-plot", type="filepath")
            c["summary"] = gr.Markdown(elem_id="driver-summary")
            c["csv"] = gr.File(label="driver CSV", elem_id="driver-csv")
    c["fields"] = fields = {}
    own = {"generation-model": studio.job.model}  # the server's --model
    for section, title in (("bend", "Bend"), ("generation", "Prompts and generation"), ("video", "Video")):
        with gr.Accordion(title, open=section == "bend", elem_id=f"section-{section}"):
            for item in form.items():
                if item.section == section:
                    fields[item.elem_id] = form.component(item, own.get(item.elem_id, dataclasses.MISSING))
            if section == "bend":
                c["op_help"] = gr.Markdown(elem_id="op-help")
                c["sites_btn"] = gr.Button("List the model's sites", elem_id="sites-button", size="sm")
                c["sites"] = gr.Code(label="sites (name, output C x H x W, channels)", elem_id="sites-table")
                c["extra"] = gr.Code(language="yaml", label="more bends (a YAML list, as in scene files)",
                                     elem_id="more-bends")
    c["scene"] = gr.Code(language="yaml", label="scene (what netbend render scene.yaml renders)", elem_id="scene")
    with gr.Row():
        c["scene_in"] = gr.File(label="load a scene", file_types=[".yaml", ".yml"], elem_id="scene-load")
        c["scene_out"] = gr.File(label="save the scene", elem_id="scene-save")
    with gr.Row():
        c["start"] = gr.Number(PREVIEW["start"], label="preview from (s)", elem_id="preview-start")
        c["seconds"] = gr.Number(PREVIEW["seconds"], label="preview seconds", elem_id="preview-seconds")
        c["psize"] = gr.Textbox(PREVIEW["size"], label="preview size", elem_id="preview-size")
    with gr.Row():
        for name, label, variant in (("preview", "Preview", "secondary"), ("grid", "Grid", "secondary"),
                                     ("render", "Render", "primary"), ("cancel", "Cancel", "stop")):
            c[f"{name}_btn"] = gr.Button(label, variant=variant, elem_id=f"{name}-button")
    c["gallery"] = gr.Gallery(label="preview frames", elem_id="preview-gallery", columns=8)
    c["grid_image"] = gr.Image(label="grid", elem_id="grid-image", type="filepath")
    c["video"] = gr.Video(label="video", elem_id="video")
    c["sidecar"] = gr.File(label="sidecar", elem_id="sidecar")
    c["downloads"] = gr.File(label="downloads", file_count="multiple", elem_id="downloads")
    c["save_btn"] = gr.Button("Save scene", elem_id="scene-save-button")
    c["ordered"] = [fields[item.elem_id] for item in form.items()]  # the order scene_text reads them in
    c["form"] = [c["extra"], *c["ordered"]]
    return c


def _wire_driver(studio: Studio, c: Page) -> None:
    """The driver's plot follows the song and the bend's feature settings; /features for scripts."""
    import gradio as gr

    f = c.fields
    driver = [c.song, f["bend-feature"], f["bend-smooth"], f["bend-range"], f["video-fps"], f["bend-op"],
              f["bend-curve"], f["bend-invert"]]

    def features_api(audio: str, feature: str, smooth: str, range_text: str, fps: float):
        png, csv_path, _ = studio.features(audio, feature, smooth, range_text, float(fps))
        return str(png), str(csv_path)

    def features_ui(audio, feature, smooth, range_text, fps, op, curve, invert):
        if not audio:
            return None, None, "upload a song to see its driver"
        png, csv_path, text = studio.features(audio, feature, smooth, range_text, float(fps), op=_op_name(op) or "add",
                                              curve=curve, invert=invert)
        return str(png), str(csv_path), text

    gr.on([x.change for x in driver], guarded(features_ui), driver, [c.plot, c.csv, c.summary], api_name=False)
    gr.Button(visible=False).click(guarded(features_api), driver[:5], [c.plot, c.csv], api_name="features")

    def describe_op(text: str) -> str:
        from .. import operators

        try:
            return f"```\n{operators.describe(_op_name(text))}\n```" if _op_name(text) else ""
        except NetbendError as e:
            return f"**{e}**"

    f["bend-op"].change(describe_op, f["bend-op"], c.op_help, api_name=False)


def _op_name(chain: str | None) -> str:
    return (chain or "").split("|")[0].split(":")[0].strip()


def _wire_frames(studio: Studio, c: Page) -> None:
    """Preview, grid, render (with cancel) and the sites list: each first writes the form as the scene."""
    import gradio as gr

    def render_api(audio: str, text: str, progress=gr.Progress()):
        def report(event):
            if isinstance(event, Progress) and event.total:
                progress((event.done, event.total), desc=event.task, unit=event.unit)
        files = studio.render(audio, text, report)
        return str(files["video"]), str(files["sidecar"]), [str(p) for p in files.values()]

    def preview(audio, text, first, secs, size):
        frames = []
        for i, image in studio.preview(audio, text, start=float(first), seconds=float(secs), size=parse_size(size)):
            frames.append((image, f"frame {i}"))
            yield frames

    def scene_first(button: Any) -> Any:
        return button.click(guarded(scene_from_form), [c.scene, *c.form], c.scene, api_name=False)

    made = gr.State([])
    scene_first(c.render_btn).then(guarded(render_api), [c.song, c.scene], [c.video, c.sidecar, made],
                                   api_name="render", concurrency_id="frames").then(
        lambda files: files, made, c.downloads, api_name=False)
    c.cancel_btn.click(lambda: studio.cancel.set(), None, None, queue=False, api_name=False)
    scene_first(c.preview_btn).then(guarded(preview), [c.song, c.scene, c.start, c.seconds, c.psize], c.gallery,
                                    api_name=False, concurrency_id="frames")
    scene_first(c.sites_btn).then(guarded(studio.sites), c.scene, c.sites, api_name=False, concurrency_id="frames")
    scene_first(c.grid_btn).then(guarded(lambda text: str(studio.grid(text))), c.scene, c.grid_image,
                                 api_name="grid", concurrency_id="frames")


def _wire_scenes(studio: Studio, c: Page) -> None:
    """Load a scene into the form; save the form as a scene."""
    import gradio as gr

    def load_scene(file: str | None):
        if not file:
            return [gr.update()] * (len(c.ordered) + 2)
        text = Path(studio.inside(file, "scene")).read_text()
        values = form_values(text)
        return [text, values[-1], *values[:-1]]

    c.scene_in.upload(guarded(load_scene), c.scene_in, [c.scene, c.extra, *c.ordered], api_name=False)

    def save_scene(current, *values):
        text = scene_from_form(current, *values)
        path = studio.work / "scenes" / "scene.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return text, str(path)

    c.save_btn.click(guarded(save_scene), [c.scene, *c.form], [c.scene, c.scene_out], api_name=False)


def launch(job: StudioJob, *, block: bool = True) -> tuple[Any, str]:
    """Check ``job`` and serve the studio; (the Gradio app, its URL). ``block=False`` returns at once."""
    job.check()
    studio = Studio(job)
    os.environ["GRADIO_TEMP_DIR"] = str(studio.uploads)  # uploads land inside the studio's folder
    page = build(studio)
    page.queue(default_concurrency_limit=1)
    _, url, _ = page.launch(server_name=job.host, server_port=job.port, auth=job.credentials(), share=False,
                            max_file_size=f"{job.max_upload_mb}mb", prevent_thread_lock=not block, quiet=True,
                            allowed_paths=[str(studio.root)], show_error=True)
    return page, url
