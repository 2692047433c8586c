"""``mgpe edit <op>``: one command per registered edit operation, built from the operation.

Common options are added here; each operation adds its own. Nothing on the ``--help`` path
imports torch: the model is loaded only when an edit runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mgpe_core.errors import UsageError

from ..console import err_console, progress_bar

COMMON_EPILOG = """\b
IMAGE (and every REF/SRC) is a file or sample:N (a built-in sample). A mask
defaults to <stem>.mask.png beside the image, else the model's parser."""


class EditGroup(click.Group):
    """Lists and builds operation commands from the plugins' registrations.

    An operation whose sub-command cannot be built (its ``options()`` raises or returns
    something that is not click parameters) is a failure of its plugin: ``mgpe edit --help``
    lists the others and warns once naming the plugin; ``mgpe edit NAME`` is an error naming
    it (exit 1). Under ``MGPE_STRICT_PLUGINS`` the failure is fatal."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._broken: dict[str, str] = {}  # operation name -> why its command cannot be built
        self._warned: set[str] = set()

    def list_commands(self, ctx):
        from mgpe_core.plugins import load_plugins

        from ..console import report_plugin_errors

        report_plugin_errors()
        return sorted(set(load_plugins().operations) | set(self.commands))

    def _build(self, name):
        """The operation's command (cached), or None: unknown, or broken (in ``_broken``)."""
        if name in self.commands:
            return self.commands[name]
        if name in self._broken:
            return None
        from mgpe_core.plugins import (
            PLUGIN_FAULTS,
            fault_text,
            get_operation,
            load_plugins,
            plugin_failure,
        )

        from ..console import report_plugin_errors

        report_plugin_errors()
        state = load_plugins()
        if ("operation", name) in state.clashes:
            get_operation(name)  # raises, naming both plugins
        op = state.operations.get(name)
        if op is None:
            return None
        try:
            cmd = build_command(op)
        except PLUGIN_FAULTS as e:
            plugin = state.owners.get(("operation", name))
            message = f"plugin {plugin!r}: operation {name!r} is unusable: {fault_text(e)}"
            self._broken[name] = message
            plugin_failure(plugin, message)  # raises under MGPE_STRICT_PLUGINS
            return None
        self.add_command(cmd, name)
        return cmd

    def get_command(self, ctx, name):
        cmd = self._build(name)
        if cmd is None and name in self._broken and name not in self._warned:
            self._warned.add(name)  # listed (mgpe edit --help): one warning, the others work
            err_console.print(f"warning: {self._broken[name]}", markup=False, highlight=False)
        return cmd

    def resolve_command(self, ctx, args):
        name = click.utils.make_str(args[0]) if args else None
        if name and not name.startswith("-") and self._build(name) is None:
            if name in self._broken:
                from mgpe_core.plugins import PluginError

                raise PluginError(self._broken[name])
            from mgpe_core.errors import did_you_mean

            hint = did_you_mean(name, self.list_commands(ctx))
            ctx.fail(f"No such operation {name!r}.{hint} "
                     f"(known: {', '.join(self.list_commands(ctx))})")
        return super().resolve_command(ctx, args)


@click.group(cls=EditGroup, invoke_without_command=True)
@click.option("--replay", type=click.Path(dir_okay=False, path_type=Path), metavar="EDIT.json",
              help="Replay an edit saved by `mgpe serve` (its edit.json, with the pictures it "
                   "names beside it); needs -o.")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="With --replay: the output.")
@click.option("--overwrite", is_flag=True, help="With --replay: replace an existing output.")
@click.option("--device", default="cpu", show_default=True, help="With --replay: cpu, cuda...")
@click.pass_context
def edit(ctx, replay, out, overwrite, device) -> None:
    """Edit portraits: every operation registered by a plugin is a sub-command.

    \b
    Examples:
      mgpe edit swap-mouth sample:0 --reference sample:4 -o open-mouth.png
      mgpe edit style sample:1 --from sample:5 --regions hair -o hair.png
      mgpe edit mask-to-face sample:2 --styles sample:0 sample:3 sample:7 -o faces/
      mgpe edit --replay edit.json -o out.png     # an edit made in `mgpe serve`
    """
    if ctx.invoked_subcommand is not None:
        if replay is not None or out is not None:
            raise UsageError("--replay and -o before the operation's name go together, without "
                             "an operation: mgpe edit --replay EDIT.json -o OUT")
        return
    if replay is None:
        click.echo(ctx.get_help())
        ctx.exit(0)
    if out is None:
        raise UsageError("--replay needs -o OUT (a .png file, or a folder for several results)")
    replay_edit(replay, out, overwrite, device)


def common_options(op) -> list[click.Parameter]:
    if op.input_kind == "mask":
        inputs = click.Argument(["inputs"], nargs=1, metavar="MASK")
    else:
        inputs = click.Argument(["inputs"], nargs=-1, required=True, metavar="IMAGE...")
    return [
        inputs,
        click.Option(["--mask", "-m"], type=click.Path(dir_okay=False, path_type=Path),
                     help="Mask of IMAGE: an id PNG, or a colour mask (the model's palette or "
                          "CelebAMask-HQ's), of the photo's size or aspect ratio."),
        click.Option(["--mask-schema"], metavar="SCHEMA", default=None,
                     help="Schema of mask files that do not name theirs, e.g. celebamask-19 "
                          "for CelebAMask-HQ's merged id maps [default: the model's]."),
        click.Option(["--model"], default=None,
                     help="Registered model name or model folder [default: mgpe-synth-128]."),
        click.Option(["--variant"], default=None, metavar="NAME",
                     help="A variant the model declares (`mgpe models info MODEL` lists them), "
                          "e.g. eye-mask: the built-in model's eye-mask variant (eye windows "
                          "from the eye mask; eye transfers carry no skin tone)."),
        click.Option(["--device"], default="cpu", show_default=True,
                     help="cpu, cuda or cuda:<index>."),
        click.Option(["--precision"], type=click.Choice(["fp32", "bf16"]), default="fp32",
                     show_default=True,
                     help="bf16: faster on GPUs and CPUs with native bf16 (AVX-512 BF16, AMX)."),
        click.Option(["--compile", "compile_synthesis"], is_flag=True,
                     help="torch.compile the synthesis network: a long wait up front, then "
                          "faster edits; for many inputs."),
        click.Option(["--seed"], type=int, default=0, show_default=True,
                     help="Seed for operations that draw random choices."),
        click.Option(["--out", "-o"], required=True, type=click.Path(path_type=Path),
                     help="Output picture (a folder for several inputs or outputs)."),
        click.Option(["--align"], type=click.Choice(["auto", "face", "whole"]), default="auto",
                     show_default=True,
                     help="face (auto for photo files): find the faces, align one to the "
                          "model's framing, paste the edit back; whole: the picture is "
                          "already a face crop framed like the model's (sample:N always is)."),
        click.Option(["--face"], default=None, metavar="N|all",
                     help="Which face of a photo: its index (0 = the largest, see `mgpe faces "
                          "PHOTO`) or all [default: 0]."),
        click.Option(["--parser"], default="auto", show_default=True,
                     metavar="auto|model|landmarks|MODEL",
                     help="What labels a photo without a mask: the model's parser, the face "
                          "mesh (landmarks: no trained weights, any real face), or another "
                          "model's parser by name; auto: the model's when it has one, else "
                          "landmarks."),
        click.Option(["--crop"], is_flag=True,
                     help="Write the model's square crop (its resolution) instead of the "
                          "photo at its own size with the edit blended in (the default)."),
        click.Option(["--paste-back"], is_flag=True, hidden=True,
                     help="The default now (the result has the photo's size); kept so that "
                          "older command lines still run."),
        click.Option(["--whole-image"], is_flag=True,
                     help="Use the generated pixels everywhere. Default: keep the photo's own "
                          "pixels outside the edited region (changed mask pixels and restyled "
                          "components), blending the generated ones in with a soft edge."),
        click.Option(["--no-colour-match", "no_colour_match"], is_flag=True,
                     help="Blend the generator's colours in as they are. Default: where a "
                          "class continues across the edited region's border (the skin "
                          "around a swapped mouth), its generated pixels are shifted to the "
                          "photo's tone there, so no ring of another tone shows; a restyled "
                          "part loses the colour error the generator makes re-rendering its "
                          "style source (a calibrated model, as the built-in ones, blends "
                          "in its error on the target and the photos' colours: mgpe models "
                          "info lists the classes), so lips or eyes arrive in the source's "
                          "colour."),
        click.Option(["--save-mask"], is_flag=True,
                     help="Also write the mask used, as <out>.mask.png."),
        click.Option(["--compare"], is_flag=True,
                     help="Also write <out>.compare.png: inputs | output side by side."),
        click.Option(["--overwrite"], is_flag=True,
                     help="Replace existing output files (never an input of the command)."),
        click.Option(["--json", "as_json"], is_flag=True, help="Print a JSON summary on stdout."),
    ]


def build_command(op) -> click.Command:
    """The sub-command of an operation; a TypeError when the operation's ``options()`` does
    not give click parameters (whatever ``options()`` raises propagates)."""
    def callback(**kwargs):
        run_operation(op, kwargs)

    extra = op.options()
    if not isinstance(extra, (list, tuple)) or \
            not all(isinstance(p, click.Parameter) for p in extra):
        raise TypeError(f"options() returned {type(extra).__name__}, not a list of click "
                        "options")
    help_text = f"{op.summary}\n\nExample: {op.example}\n\n{COMMON_EPILOG}"
    return click.Command(op.name, callback=callback, params=common_options(op) + list(extra),
                         help=help_text, short_help=op.summary)


class ModelSession:
    """The chosen model, cheap until its networks are needed.

    Resolving the name and variant and reading ``config.json`` (schema, resolution, what the
    model has) costs milliseconds; loading the networks costs seconds (and imports torch). The
    edit command validates every input with the cheap part first, so a bad input is refused
    before any network loads; the networks load on first use (parsing a photo without a mask,
    or the edit itself)."""

    def __init__(self, model_name, variant, device, precision, compile_synthesis=False):
        from mgpe_core.registry import editing_model

        info = editing_model(model_name, variant)
        self.entry, self.has_parser = info.entry, info.has_parser
        self.architecture, self.config = info.architecture, info.config
        self.schema, self.resolution = info.schema, info.resolution
        self.options = (device, precision, compile_synthesis)
        self._editor = None

    def check_requires(self, op) -> None:
        for key, want in op.requires.items():
            have = getattr(self.config.model, key, None)
            if have != want:
                raise UsageError(f"{op.name} needs a model with {key} = {want!r}; "
                                 f"{self.entry.name} has {have!r}")

    def parse(self, images):
        return self.editor().parse(images)

    def parser_for(self, choice: str):
        """The ``parse(images)`` that labels photos without a mask for ``--parser``: the model's
        own (``auto``/``model``), none (``landmarks``: the face framer labels crops), or
        another registered model's parser, its labels converted to this model's schema by
        class name. The other model is checked now (config.json only) and loaded on first
        use."""
        if choice in ("auto", "model"):
            return self.parse if self.has_parser else None
        if choice == "landmarks":
            return None
        from mgpe_core.registry import find_model, parser_reference, read_model_config

        entry = find_model(choice)
        meta = read_model_config(entry.path)
        if "parser" not in meta.get("weights", {}) and parser_reference(meta) is None:
            raise UsageError(f"--parser {choice}: model {entry.name} ships no parser")
        resolution = entry.describe()["resolution"]
        loaded = {}

        def parse_with_other(images):
            from mgpe_core.device import resolve_device
            from mgpe_core.engine import parse_images
            from mgpe_core.labels import convert
            from mgpe_core.registry import load_model_parser

            dev = resolve_device(self.options[0])
            if "parser" not in loaded:
                loaded["parser"] = load_model_parser(
                    entry.path if entry.source == "path" else entry.name, device=dev)
            parser, schema = loaded["parser"]
            # labels in the parser's schema, converted by class name and handedness
            return [convert(lab, schema, self.schema)
                    for lab in parse_images(parser, images, resolution, dev)]

        return parse_with_other

    def editor(self):
        """The loaded model in an Editor (loaded once)."""
        if self._editor is None:
            from mgpe_core.device import bf16_emulation_note, resolve_device
            from mgpe_core.engine import Editor
            from mgpe_core.registry import load_model

            device, precision, compile_synthesis = self.options
            dev = resolve_device(device)
            note = bf16_emulation_note(precision, dev)
            if note:
                err_console.print(f"warning: {note}", markup=False, highlight=False)
            entry = self.entry
            model = load_model(entry.path if entry.source == "path" else entry.name, device=dev)
            self._editor = Editor(model, device=dev, precision=precision,
                                  compile=compile_synthesis)
        return self._editor


def run_operation(op, kw, replay=None) -> None:
    """Run ``op`` with the command's keyword arguments. ``replay``: a replayed serve edit
    (:class:`Replay`): named portraits, the mask the edit started
    from and extra styles, applied to the prepared requests as the server did."""
    from mgpe_core.engine import edit_region
    from mgpe_core.errors import NothingToDo
    from mgpe_core.operations import OpContext

    inputs = [kw.pop("inputs")] if op.input_kind == "mask" else list(kw.pop("inputs"))
    common = {k: kw.pop(k) for k in ("mask", "mask_schema", "model", "variant", "device",
                                     "precision", "align", "face", "parser",
                                     "compile_synthesis", "seed", "out", "crop", "paste_back",
                                     "whole_image", "no_colour_match", "save_mask", "compare",
                                     "as_json", "overwrite")}
    if common["crop"] and common["paste_back"]:
        raise UsageError("--crop and --paste-back contradict each other: --crop writes the "
                         "model's square crop, the default the whole photo")
    if common["mask"] and len(inputs) > 1:
        raise UsageError("--mask goes with a single IMAGE; with several, put <stem>.mask.png "
                         "beside each")
    if common["mask_schema"] is not None:  # an option value: a usage error before any file
        from mgpe_core.errors import LabelError
        from mgpe_core.labels import get_schema

        try:
            get_schema(common["mask_schema"])
        except LabelError as e:
            raise UsageError(f"--mask-schema: {e}") from None
    out: Path = common["out"]
    # --out itself, before anything is read or loaded: never an input; with one input, an
    # existing file there only with --overwrite (so that a photo is not parsed in vain; with
    # several inputs the outputs need a folder, said once the requests are built); names
    # inside a folder are known once the requests are
    early = common["overwrite"] or not out.is_file() or len(inputs) > 1
    _output_plan(op, inputs, {**common, "overwrite": early}, kw, []).check()
    session = ModelSession(common["model"], common["variant"], common["device"],
                           common["precision"], common["compile_synthesis"])
    session.check_requires(op)
    ctx = OpContext(session.schema, session.config,
                    parse=session.parser_for(common["parser"]), seed=common["seed"],
                    mask_schema=common["mask_schema"],
                    framer=_framer(common, session))
    if replay is not None:
        ctx.portraits.update(replay.views)
    which = _face_choice(common)
    # Validate every input and build every request before loading networks or writing
    # anything: every file is read first, faces found, then crops without a mask parsed in one
    # batch.
    groups = [[spec] for spec in inputs] if op.input_kind == "mask" else \
        _load_targets(ctx, inputs, common["mask"], which)
    jobs = []
    for spec, targets in zip(inputs, groups, strict=True):
        per_target = []
        for target in targets:
            requests = op.prepare(ctx, target, **kw) if replay is None else \
                replay.prepare(op, ctx, target, kw)
            if not requests or not any(edit_region(r, session.schema).any() for r in requests):
                name = getattr(target, "name", spec)
                raise NothingToDo(f"{op.name}: nothing to do for {name}: the edit changes no "
                                  "pixel of its mask and restyles nothing; nothing was written")
            for req in requests:
                req.keep_unedited = req.keep_unedited and not common["whole_image"]
                req.match_colour = req.match_colour and not common["no_colour_match"]
                req.match_style = req.match_style and not common["no_colour_match"]
            per_target.append(requests)
        jobs.append((spec, per_target))
    total = sum(_output_count(per_target, common) for _, per_target in jobs)
    many = len(jobs) > 1 or total > 1
    if many:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: several results need a folder, and this is a file")
    elif out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"--out {out}: use a .png or .jpg file name")
    # every output file, before the networks load or anything is written (mgpe_core.outputs)
    planned = _plan_outputs(op, jobs, out, many, common)
    _output_plan(op, inputs, common, kw, planned).check()
    editor = session.editor()
    if many:
        out.mkdir(parents=True, exist_ok=True)
    summary = []
    with progress_bar(f"edit {op.name}", sum(len(r) for _, t in jobs for r in t)) as advance:
        for (spec, per_target), files in zip(jobs, planned, strict=True):
            shown, results = _edit_job(editor, per_target, common, advance)
            summary.extend(_write_results(spec, shown, results, files, editor))
    if common["as_json"]:
        click.echo(json.dumps({"operation": op.name, "model": editor.model.name,
                               "eye_window": editor.model.config.model.eye_window,
                               "outputs": summary}, indent=2))
    else:
        err_console.print(f"[green]done[/]: {op.name} with model {editor.model.name} -> "
                          f"{out}", highlight=False)


def _framer(common, session):
    """The face framer for photo files (``--align face``, the default), or None (``whole``)."""
    if common["align"] == "whole":
        if common["face"] is not None or common["parser"] == "landmarks":
            raise UsageError("--face and --parser landmarks work on faces found in a photo: "
                             "they do not go with --align whole")
        return None
    from mgpe_core.faces.framer import LANDMARKS, FaceFramer
    from mgpe_core.faces.framing import framing_for

    parser = common["parser"]
    if parser == "model" and not session.has_parser:
        raise UsageError(f"--parser model: model {session.entry.name} has no parser; use "
                         "--parser landmarks (the face mesh labels the face) or another "
                         "model's parser by name")
    use_landmarks = parser == LANDMARKS or (parser == "auto" and not session.has_parser)
    return FaceFramer(session.resolution, framing_for(session.config.model),
                      session.schema, parser=LANDMARKS if use_landmarks else None)


def _face_choice(common):
    from mgpe_core.faces.framer import parse_face_choice

    return parse_face_choice(common["face"])


def _load_targets(ctx, inputs, mask, which):
    from mgpe_core.faces.detect import MissingExtra

    try:
        return ctx.load_faces(inputs, mask, True, which)
    except MissingExtra as e:
        raise UsageError(f"{e}; or --align whole to edit the picture as one face crop framed "
                         "like the model's (as the built-in samples are)") from None


def _output_count(per_target, common) -> int:
    """Pictures one input writes: each request of each face with --crop; else one picture per
    request index, every face of the photo pasted into it."""
    framed = _framed(per_target)
    if common["crop"] or not framed:
        return sum(len(r) for r in per_target)
    return max(len(r) for r in per_target)


def _framed(per_target) -> bool:
    from mgpe_core.faces.framer import FramedPortrait

    return any(isinstance(r.target, FramedPortrait) for reqs in per_target for r in reqs)


def _edit_job(editor, per_target, common, advance):
    """(requests to show, results) of one input. A photo's faces are edited as aligned crops
    and, unless --crop, pasted back into the photo one after another: the result has the
    photo's size and only the edited regions differ from it."""
    from types import SimpleNamespace

    from mgpe_core.engine import EditResult, edit_region
    from mgpe_core.faces.framer import mask_back, put_back

    framed = _framed(per_target)
    flat = [r for reqs in per_target for r in reqs]
    if not framed or common["crop"]:
        return flat, editor.edit(flat, paste_back=not common["crop"], progress=advance)
    done = editor.edit(flat, paste_back=False, progress=advance)
    by_target, k = [], 0
    for reqs in per_target:
        by_target.append(list(zip(reqs, done[k:k + len(reqs)], strict=True)))
        k += len(reqs)
    shown, results = [], []
    for j in range(max(len(pairs) for pairs in by_target)):
        first = next(pairs[j] for pairs in by_target if j < len(pairs))[0].target
        photo, mask = first.photo, first.photo_labels
        for pairs in by_target:
            if j >= len(pairs):
                continue
            req, res = pairs[j]
            region = edit_region(req, editor.schema) if req.keep_unedited else \
                (res.mask != 0) | (req.target.labels != 0)
            photo = put_back(photo, req.target, res.model_image, region)
            if common["save_mask"] or common["compare"]:  # 31 ms at 12 MP: only when shown
                mask = mask_back(mask, req.target, res.mask)
        shown.append(SimpleNamespace(target=SimpleNamespace(image=first.photo),
                                     styles=by_target[0][min(j, len(by_target[0]) - 1)][0]
                                     .styles))
        results.append(EditResult(photo, mask, by_target[0][0][1].model_image))
    return shown, results


def _output_plan(op, inputs, common, kw, planned):
    """The command's :class:`~mgpe_core.outputs.OutputPlan`: every file it reads (inputs, their
    masks beside them, --mask, and every option value naming a file or folder: references,
    style sources) and the outputs ``planned`` (``[]``: --out itself, when it is not a
    folder)."""
    from mgpe_core.outputs import OutputPlan

    plan = OutputPlan(overwrite=common["overwrite"])
    if op.input_kind == "mask":
        plan.read(*inputs)
    else:
        plan.read_photo(*inputs)
    plan.read(common["mask"])
    plan.read_values(kw.values())
    if not planned:
        if not common["out"].is_dir():
            plan.add(common["out"])
        return plan
    for files in planned:
        for entry in files:
            for what, path in entry.items():
                if what != "input":
                    plan.add(path, what)
    return plan


def _plan_outputs(op, jobs, out, many, common) -> list[list[dict]]:
    """Per job, the files it writes: ``{"input", "output", "mask"?, "compare"?}`` per result,
    then ``{"input", "grid"}`` when it has several. Inputs of one stem get distinct names
    (``mgpe_core.outputs.output_stems``)."""
    from mgpe_core.outputs import output_stems

    stems = output_stems([spec for spec, _ in jobs])
    planned = []
    for (spec, per_target), stem in zip(jobs, stems, strict=True):
        n = _output_count(per_target, common)
        files = []
        for i in range(n):
            if not many:
                path = out
            elif n > 1:
                path = out / f"{stem}.{op.name}.{i:02d}.png"
            else:
                path = out / f"{stem}.{op.name}.png"
            entry = {"input": spec, "output": path}
            if common["save_mask"]:
                entry["mask"] = path.with_name(path.stem + ".mask.png")
            if common["compare"]:
                entry["compare"] = path.with_name(path.stem + ".compare.png")
            files.append(entry)
        if n > 1:
            files.append({"input": spec, "grid": out / f"{stem}.{op.name}.grid.png"})
        planned.append(files)
    return planned


def _write_results(spec, requests, results, files, editor) -> list[dict]:
    """Write one input's results to the paths planned (and checked) before the edit."""
    from mgpe_core.io import write_image, write_label_map
    from mgpe_core.pictures import fit_square, make_grid

    records = []
    shown = [entry for entry in files if "output" in entry]
    for req, res, entry in zip(requests, results, shown, strict=True):
        write_image(entry["output"], res.image)
        if "mask" in entry:
            write_label_map(entry["mask"], res.mask, editor.schema)
        if "compare" in entry:
            write_image(entry["compare"], _compare_strip(req, res, editor.schema))
        records.append({k: str(v) if k != "input" else v for k, v in entry.items()})
    if len(requests) > 1:
        tiles = [editor.schema.colorize(results[0].mask)] + [r.model_image for r in results]
        tiles = [fit_square(t, results[0].model_image.shape[0]) for t in tiles]
        write_image(files[-1]["grid"], make_grid(tiles, ncol=min(len(tiles), 6)))
        records.append({"input": spec, "grid": str(files[-1]["grid"])})
    return records


#: Longest side of a --compare tile (a 4000 px photo is shown smaller; a 128 px crop at 128).
COMPARE_TILE = 512


def _compare_strip(req, res, schema):
    """Inputs | mask used | the picture that was saved, square tiles of one size."""
    from mgpe_core.pictures import fit_square, make_grid

    size = max(res.model_image.shape[0], min(COMPARE_TILE, max(res.image.shape[:2])))
    tiles = [fit_square(req.target.image, size)]
    for p in {id(p): p for p in req.styles.values() if p is not req.target}.values():
        tiles.append(fit_square(p.image, size))
    tiles += [fit_square(schema.colorize(res.mask), size), fit_square(res.image, size)]
    return make_grid(tiles, ncol=len(tiles))


# -- mgpe edit --replay: an edit made in `mgpe serve` -------------------------------------------

#: Version of the replay record (docs/serve-api.md).
REPLAY_FORMAT = 1


class _Render:
    """A served render (no operation: the painted mask and the styles picked): the photo's own
    request, which :meth:`Replay.prepare` gives the start mask and the styles."""

    name = "render"
    input_kind = "image"
    requires: dict = {}

    def options(self):
        return []

    def prepare(self, ctx, target):
        from mgpe_core.engine import EditRequest

        return [EditRequest(target)]


class Replay:
    """What a served edit adds to an ``mgpe edit`` run: session photos by name (``views``:
    each with the mask it had, what the operation saw; ``originals``: the same photo with its
    own labels, what the engine encodes), the mask the edit started from, and styles. Requests
    are put back on the photos themselves, as the server does (mgpe_plugins/serve/studio.py),
    so the edited region is everything that differs from a photo's own labels."""

    def __init__(self, views: dict, originals: dict, start_mask, styles: dict):
        self.views, self.originals = views, originals
        self.start_mask, self.styles = start_mask, styles

    def prepare(self, op, ctx, target, kw) -> list:
        from copy import copy

        from mgpe_core.errors import LabelError

        back = {id(self.views[n]): self.originals[n] for n in self.views}
        masks = {id(v): v.labels for v in self.views.values()}
        arg = target
        if self.start_mask is not None and op.input_kind != "mask":
            if self.start_mask.shape != target.labels.shape:
                raise LabelError(f"replay: start mask is {self.start_mask.shape[::-1]}, the "
                                 f"photo's crop {target.labels.shape[::-1]}")
            arg = copy(target)
            arg.labels = self.start_mask
            back[id(arg)], masks[id(arg)] = target, self.start_mask
        requests = op.prepare(ctx, arg, **kw)
        styles = {c: ctx.portrait(spec) for c, spec in self.styles.items()}
        for req in requests:
            if id(req.target) in back:
                if req.mask is None:
                    req.mask = masks[id(req.target)]
                req.target = back[id(req.target)]
            req.styles = {c: back.get(id(p), p) for c, p in {**req.styles, **styles}.items()}
        return requests


def _replay_file(folder: Path, name, what: str) -> Path:
    """A file named by the record: a plain name beside it (no folders, nothing outside)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or \
            name.startswith(".") or name in ("..", "."):
        raise UsageError(f"replay: {what} must be a file name beside the JSON, got {name!r}")
    path = folder / name
    if not path.is_file():
        raise UsageError(f"replay: {what} {name} is missing: download it with the JSON "
                         f"(the result's replay.zip holds both)")
    return path


def _replay_args(op, values: dict) -> list[str]:
    """Command-line arguments for recorded option values (click parameter names)."""
    params = {p.name: p for p in op.options() if isinstance(p, click.Option)}
    args: list[str] = []
    for name, value in values.items():
        if name not in params:
            raise UsageError(f"replay: {op.name} has no option {name!r}")
        param = params[name]
        flag = max(param.opts, key=len)
        if value is None or value is False:
            continue
        if param.is_flag:
            args.append(flag)
            continue
        for v in value if isinstance(value, list) else [value]:
            args += [f"{flag}={v}"] if flag.startswith("--") else [flag, str(v)]
    return args


def replay_edit(path: Path, out: Path, overwrite: bool, device: str) -> None:
    """``mgpe edit --replay EDIT.json -o OUT``: the edit a served result came from, run by
    :func:`run_operation` with the record's model, input, options and pictures."""
    from mgpe_core.engine import Portrait
    from mgpe_core.io import read_image, read_json
    from mgpe_core.json_files import validate
    from mgpe_core.operations import parse_options, read_mask_for
    from mgpe_core.plugins import get_operation
    from mgpe_core.registry import DEFAULT_MODEL, find_model, model_config, read_model_config

    record = read_json(path, "replay record")
    if not isinstance(record, dict) or record.get("mgpe_edit") != REPLAY_FORMAT:
        raise UsageError(f"{path}: not an mgpe edit record (\"mgpe_edit\": {REPLAY_FORMAT})")
    where = f"replay record {path}"
    for key, kind in (("model", (str, type(None))), ("variant", (str, type(None))),
                      ("op", (str, type(None))), ("input", str), ("options", dict),
                      ("portraits", dict), ("styles", dict), ("align", str),
                      ("start_mask", str), ("face", int)):
        if key in record and not isinstance(record[key], kind):
            raise UsageError(f"{where}: {key!r} has the wrong type")
    if "input" not in record:
        raise UsageError(f"{where}: no 'input'")
    folder = path.parent
    model = record.get("model") or DEFAULT_MODEL
    variant = record.get("variant")
    schema = model_config(read_model_config(find_model(model, variant=variant).path)
                          ).model.label_schema
    op = _Render() if record.get("op") is None else get_operation(record["op"])
    options = validate(record.get("options", {}), dict, where, UsageError)
    kw = parse_options(op, _replay_args(op, options)) if options else \
        (parse_options(op, []) if not isinstance(op, _Render) else {})
    views, originals = {}, {}
    for name, entry in record.get("portraits", {}).items():
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: portraits.{name} must be an object")
        image = read_image(_replay_file(folder, entry.get("image"), f"portraits.{name}.image"))
        labels = read_mask_for(_replay_file(folder, entry.get("labels"), "labels"), schema)
        mask = read_mask_for(_replay_file(folder, entry.get("mask"), "mask"), schema)
        views[name] = Portrait(image, mask, name)
        originals[name] = Portrait(image, labels, name)
    start = record.get("start_mask")
    start_mask = read_mask_for(_replay_file(folder, start, "start_mask"), schema) \
        if start else None
    spec = record["input"]
    if not spec.startswith("sample:") and spec not in views:
        spec = str(_replay_file(folder, spec, "input"))
    align = record.get("align", "whole")
    if align not in ("face", "whole"):
        raise UsageError(f"{where}: align must be face or whole, got {align!r}")
    kw = dict(kw)
    kw.update(inputs=spec if op.input_kind == "mask" else (spec,), mask=None,
              mask_schema=None, model=model, variant=variant, device=device,
              precision="fp32", align=align,
              face=str(record.get("face", 0)) if align == "face" else None, parser="auto",
              compile_synthesis=False, seed=0, out=out, crop=False, paste_back=False,
              whole_image=False, no_colour_match=False, save_mask=False, compare=False,
              as_json=False,
              overwrite=overwrite)
    run_operation(op, kw, Replay(views, originals, start_mask, record.get("styles", {})))
