"""What an edit operation is, and the context it works in.

An operation is a small object (one module in ``mgpe_plugins/ops/``, or in a plugin package)
that turns user inputs into :class:`~mgpe_core.engine.EditRequest` values. It never runs
networks: the engine does. The core knows no operation by name: the CLI, ``mgpe eval``,
``mgpe demo`` and the Python API all reach operations through the plugin registry.

- ``name``, ``summary`` (one line), ``example`` (one command line, shown in ``--help``);
- ``input_kind``: ``"image"`` (IMAGE arguments: photos to edit) or ``"mask"`` (MASK: a mask whose
  layout every output follows);
- ``options()``: extra click options (built lazily: click is cheap, torch is never imported);
- ``prepare(ctx, target, **options) -> list[EditRequest]``: the edit(s) for one input.
  One request writes one picture; several write a folder and a grid.
- ``requires``: optional model requirement, e.g. ``{"eye_window": "mask"}``;
- ``eval_cases()``: how ``mgpe eval`` scores it on held-out faces (:class:`EvalCase`);
- ``demo_cases()``: what ``mgpe demo`` shows of it (:class:`DemoCase`).

Operations receive an :class:`OpContext` to load further portraits (``ctx.portrait("ref.png")``,
``ctx.portrait("sample:3")``, or a named in-memory portrait) with the same mask rules as the
main input. Options in :class:`EvalCase` and :class:`DemoCase` are written as on the command
line and parsed by the operation's own click options (:func:`parse_options`), so a declaration
means exactly what the same ``mgpe edit`` command would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LabelError, UsageError
from .samples import SAMPLE_SPEC

if TYPE_CHECKING:  # numpy and labels load only when an operation runs: `--help` stays fast
    import numpy as np

    from .labels import LabelSchema


@dataclass(frozen=True)
class ColourCheck:
    """Score an evaluation case as a style transfer of one region: the distance between the
    mean Lab colour of ``classes`` in the output and in the style source (the reference face),
    against the same distance before the edit. ``attribute`` (and ``name_attribute``): the
    mgpe-synth attributes holding the region's RGB colour (and its name), used to pick style
    sources whose colour differs."""

    region: str
    classes: tuple[str, ...]
    attribute: str | None = None
    name_attribute: str | None = None


@dataclass(frozen=True)
class EvalCase:
    """One way ``mgpe eval`` runs an operation on every held-out face.

    ``label``: its row in the report (the operation's name when it has one case).
    ``args``: the operation's options as on the command line, e.g. ``("--mode", "add")``.
    ``reference``: the option that receives another test face (``"--reference"``), picked by
    a seeded random derangement; ``reference_caption`` names it in the example picture.
    ``differ``: mgpe-synth attributes in which that face must differ (e.g. an expression).
    ``skip_face(attributes) -> reason | None``: leave a face out (e.g. one without the part the
    operation removes), with the reason counted in the report.
    ``colour``: score as a style transfer (:class:`ColourCheck`) instead of by mask fidelity.
    ``local``: the edit changes one part of the face (counted in the locality total).
    ``benchmark``: part of the default benchmark (``mgpe eval`` without ``--ops``); other cases
    run when ``--ops`` names them, so installing a plugin never changes the default figures.
    ``pairing_stream``: stream of the pairing's random generator (default: from the label).
    """

    label: str
    args: tuple[str, ...] = ()
    reference: str | None = None
    reference_caption: str = "reference"
    differ: tuple[str, ...] = ()
    skip_face: Callable[[dict], str | None] | None = None
    colour: ColourCheck | None = None
    local: bool = True
    benchmark: bool = False
    pairing_stream: int | None = None


@dataclass(frozen=True)
class DemoCase:
    """One row of a ``mgpe demo`` figure: the operation on ``target`` (``sample:N``) with
    ``args`` (options as on the command line). ``figure``: the picture the row goes into
    (``mask_to_face``, ``component_edits``, ``style_transfer``, or a new name: a figure of its
    own); ``label``: the caption of the result."""

    figure: str
    target: str
    args: tuple[str, ...] = ()
    label: str = ""


class Operation:
    name: str = ""
    summary: str = ""
    example: str = ""
    input_kind: str = "image"
    requires: dict = {}

    def options(self) -> list:
        return []

    def prepare(self, ctx: OpContext, target, **options) -> list:
        raise UsageError(f"operation {self.name!r} does not implement prepare()")

    def eval_cases(self) -> list[EvalCase]:
        """Default: an image operation is scored with its default options (by mask fidelity
        and locality), outside the default benchmark; declare cases to say more."""
        return [EvalCase(self.name)] if self.input_kind == "image" else []

    def demo_cases(self) -> list[DemoCase]:
        return []


def operation_options(op: Operation) -> list:
    """``op.options()``, checked: a list of click parameters. Whatever a (plugin) operation's
    ``options()`` raises, or a result that is not click parameters, is a
    :class:`~mgpe_core.plugins.PluginError` naming the operation (``mgpe edit``, ``eval``,
    ``demo`` and ``serve`` all build an operation's options here)."""
    import click

    from .plugins import PluginError, fault_text

    try:
        params = op.options()
    except (Exception, SystemExit) as e:
        raise PluginError(f"operation {op.name!r} is unusable: options() raised "
                          f"{fault_text(e)}") from None
    if not isinstance(params, (list, tuple)) or \
            not all(isinstance(p, click.Parameter) for p in params):
        raise PluginError(f"operation {op.name!r} is unusable: options() returned "
                          f"{type(params).__name__}, not a list of click options")
    return list(params)


def parse_options(op: Operation, args=()) -> dict:
    """The keyword arguments of ``op.prepare`` for command-line ``args`` (defaults filled in),
    parsed by the operation's own click options: what ``mgpe edit NAME ... ARGS`` would pass.
    A bad argument is a :class:`UsageError` naming the operation."""
    import click

    command = click.Command(op.name, params=operation_options(op))
    try:
        with command.make_context(op.name, list(args)) as ctx:
            return dict(ctx.params)
    except click.ClickException as e:
        raise UsageError(f"{op.name} {' '.join(args)}: {e.format_message()}") from None


def mask_path_beside(image_path: Path) -> Path:
    """The default mask of ``photo.jpg`` is ``photo.mask.png`` beside it."""
    return image_path.with_name(image_path.stem + ".mask.png")


#: The schema of CelebAMask-HQ's own masks (its official colour masks use its palette).
CELEBAMASK_SCHEMA = "celebamask-19"


def read_mask_for(path: Path, schema: LabelSchema, mask_schema=None) -> np.ndarray:
    """A mask file converted to ``schema`` by class names (and sides), in the forms people have:

    - an id PNG naming its schema (as mgpe writes them);
    - an id map that names none: read in ``mask_schema`` when given (``--mask-schema``), else
      in ``schema``; ids outside it are an error that suggests ``--mask-schema``;
    - a colour picture: in ``mask_schema``'s palette when given; else in ``schema``'s palette,
      and failing that in CelebAMask-HQ's (its official colour masks: every class has the same
      colour in every mgpe schema, so a mask using colours only CelebAMask-HQ has, such as ears
      or neck, is one of those, read with the subject's left as ``l_``).
    """
    from .io import read_label_map
    from .labels import convert, get_schema

    if mask_schema is not None:
        try:
            wanted = get_schema(mask_schema)
        except LabelError as e:
            raise UsageError(f"--mask-schema: {e}") from None
        labels, file_schema = read_label_map(path, wanted)
        return convert(labels, file_schema, schema)
    kind = _mask_kind(path)
    if kind == "named":
        labels, file_schema = read_label_map(path)
    elif kind == "ids":
        try:
            labels, file_schema = read_label_map(path, schema)
        except LabelError as e:
            raise LabelError(f"{e}. If the mask is in another schema, name it: --mask-schema "
                             f"NAME (e.g. {CELEBAMASK_SCHEMA} for CelebAMask-HQ's id maps)"
                             ) from None
    else:
        try:
            labels, file_schema = read_label_map(path, schema)
        except LabelError as own:
            try:
                labels, file_schema = read_label_map(path, CELEBAMASK_SCHEMA)
            except LabelError:
                raise own from None
    return convert(labels, file_schema, schema)


def _mask_kind(path: Path) -> str:
    """``named`` (an id PNG naming its schema), ``ids`` (a single-channel id map naming none)
    or ``colour`` (a colour picture), read from the header; an unreadable file is left for
    the reader to report."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if "mgpe-schema" in img.info:
                return "named"
            return "ids" if img.mode in ("L", "I", "I;16") else "colour"
    except Exception:  # the reader gives the one clear message (missing, not an image, ...)
        return "named"


def fit_mask(labels: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    """A mask resized (nearest) to an image's ``shape`` when their aspect ratios agree (a 512 px
    CelebAMask-HQ mask beside its 1024 px photo); a LabelError naming both sizes otherwise."""
    h, w = labels.shape
    if (h, w) == tuple(shape):
        return labels
    H, W = shape
    if abs(h * W - H * w) > max(h, w, H, W):  # more than a pixel's rounding apart
        raise LabelError(f"{what} is {w}x{h} but the image is {W}x{H}: their aspect ratios "
                         f"differ ({w / h:.3f} vs {W / H:.3f}), so it cannot be scaled to fit")
    from .mask_edit import resize_nearest

    return resize_nearest(labels, (H, W))


@dataclass
class OpContext:
    """Loads portraits for operations: files, ``sample:N``, or named in-memory portraits
    (``portraits``: e.g. ``mgpe eval``'s test faces), with masks in the model schema.

    ``parse(images) -> label maps``: the model's parser (batched), for photos without a mask;
    None when there is none. Portraits are cached by spec, so a reference named twice is read
    and parsed once.
    """

    schema: LabelSchema
    model_config: object = None
    parse: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    seed: int = 0
    cache: dict = field(default_factory=dict)
    portraits: dict = field(default_factory=dict)
    #: schema of mask files that do not name theirs (``--mask-schema``); None: the model's
    mask_schema: str | None = None
    #: brings photo files to the model's framing (:class:`mgpe_core.faces.framer.FaceFramer`);
    #: None: a photo is used whole (squared), as the built-in samples are
    framer: object = None

    def portrait(self, spec: str, mask: str | Path | None = None, need_mask: bool = True):
        """``spec``: an image path, ``sample:N`` or a name in ``portraits``. ``mask``: an
        explicit mask file; else ``<stem>.mask.png`` beside the image; else the model's parser
        (when ``need_mask``). With a ``framer``, a photo file gives its largest face, aligned
        to the model's framing."""
        return self.load([spec], mask, need_mask)[0]

    def load(self, specs, mask: str | Path | None = None, need_mask: bool = True) -> list:
        """Several portraits at once: every file is read (and every mask checked) first, then
        the photos without a mask go through the parser in one batched call."""
        return [group[0] for group in self.load_faces(specs, mask, need_mask, 0)]

    def load_faces(self, specs, mask: str | Path | None = None, need_mask: bool = True,
                   which: int | str = 0) -> list[list]:
        """Per spec, its portraits: one, or with a ``framer`` one per face picked by ``which``
        (an index, 0 = the largest, or ``"all"``). Files are read and checked first, then faces
        found, then every crop without a mask parsed in one batch."""
        missing: list = []  # portraits waiting for the parser
        seen: dict = {}  # key -> group, within this call (a spec named twice is read once)
        out = [self._read(str(spec), mask, need_mask, which, missing, seen) for spec in specs]
        if missing:
            for p, lab in zip(missing, self.parse([p.image for p in missing]), strict=True):
                p.labels = lab
                self._check_face(p, p.name)
        for key, group in out:  # cached once complete: a failed parse leaves nothing half-made
            self.cache[key] = group
        return [group for _, group in out]

    def _read(self, spec: str, mask, need_mask: bool, which, missing: list, seen: dict):
        """(cache key, [portraits]) of one spec; portraits still to be parsed join
        ``missing``."""
        from .engine import Portrait

        framed = self.framer is not None and need_mask and not SAMPLE_SPEC.match(spec) \
            and spec not in self.portraits
        key = (spec, str(mask) if mask else None, which if framed else 0)
        if key in self.cache:
            return key, self.cache[key]
        if key in seen:
            return key, seen[key]
        if spec in self.portraits and not mask:
            group = [self.portraits[spec]]
        elif m := SAMPLE_SPEC.match(spec):
            from .samples import sample_portrait

            portrait = sample_portrait(int(m.group(1)), self.schema, spec)
            if mask:
                portrait.labels = fit_mask(self._mask_file(Path(mask)), portrait.image.shape[:2],
                                           f"mask {mask}")
            group = [portrait]
        else:
            image, labels = self.read_photo(spec, mask, need_mask and not framed)
            if framed:
                group = self.framer.frame(image, labels, spec, which)
                if any(p.labels is None for p in group) and self.parse is None:
                    raise UsageError(f"no mask for {spec}: pass --mask, put a mask beside it, or "
                                     "--parser landmarks (the model has no parser)")
            else:
                group = [Portrait(image, labels, spec)]
        for p in group:
            if p.labels is None and need_mask:
                missing.append(p)
            elif need_mask:
                self._check_face(p, p.name)
        seen[key] = group
        return key, group

    def read_photo(self, spec: str, mask=None, need_mask: bool = True):
        """(image, labels or None) of a photo file: its mask from ``mask``, else
        ``<stem>.mask.png`` beside it, scaled to the photo when of the same aspect ratio."""
        from .io import read_image

        path = Path(spec)
        image = read_image(path)
        mpath = Path(mask) if mask else mask_path_beside(path)
        if mask or mpath.exists():
            return image, fit_mask(self._mask_file(mpath), image.shape[:2], f"mask {mpath}")
        if need_mask and self.parse is None:
            raise UsageError(f"no mask for {path}: pass --mask or put {mpath.name} beside it "
                             "(the model has no parser to make one)")
        return image, None

    @staticmethod
    def _check_face(p, spec: str) -> None:
        if p.labels is not None and not p.labels.any():
            raise LabelError(f"the mask of {spec} has no face (background only): nothing to "
                             "edit or to take a style from")

    def mask_only(self, spec: str) -> np.ndarray:
        """A mask given directly (``sample:N`` or a named portrait gives its mask)."""
        if SAMPLE_SPEC.match(str(spec)) or str(spec) in self.portraits:
            return self.portrait(spec).labels
        return self._mask_file(Path(spec))

    def _mask_file(self, path: Path) -> np.ndarray:
        return read_mask_for(path, self.schema, self.mask_schema)

    def reference_mask(self, spec: str) -> np.ndarray:
        """A reference layout: ``sample:N``, a named portrait, a mask file, or a photo (its
        mask, or parsed)."""
        if SAMPLE_SPEC.match(str(spec)) or str(spec) in self.portraits:
            return self.portrait(spec).labels
        path = Path(spec)
        if _looks_like_mask(path):
            return self._mask_file(path)
        return self.portrait(spec).labels

    def expand_sources(self, specs) -> list[str]:
        """``samples`` -> every built-in sample; a folder -> its photos (not their masks)."""
        from .io import IMAGE_SUFFIXES
        from .samples import sample_count

        out: list[str] = []
        for spec in specs:
            if spec == "samples":
                out += [f"sample:{i}" for i in range(sample_count())]
            elif Path(spec).is_dir():
                found = sorted(p for p in Path(spec).iterdir()
                               if p.suffix.lower() in IMAGE_SUFFIXES
                               and not p.name.endswith(".mask.png"))
                if not found:
                    raise UsageError(f"no photos in folder {spec}")
                out += [str(p) for p in found]
            else:
                out.append(str(spec))
        return out


def _looks_like_mask(path: Path) -> bool:
    """A label map: named *.mask.png, or a single-channel PNG, or a PNG naming a schema."""
    if path.name.endswith(".mask.png"):
        return True
    if path.suffix.lower() != ".png" or not path.exists():
        return False
    from .io import pil_image_module

    Image = pil_image_module()  # a header read only; mgpe's own pixel limit applies on decode
    try:
        with Image.open(path) as img:
            return img.mode in ("L", "P") or "mgpe-schema" in img.info
    except (OSError, SyntaxError, ValueError):  # not a picture: the reader explains
        return False
