"""What an edit operation is, and the context it works in.

An operation is a small object (one module in ``mgpe_plugins/ops/``, or in a plugin package)
that turns user inputs into :class:`~mgpe_core.engine.EditRequest` values. It never runs
networks: the engine does. The CLI builds ``mgpe edit <name>`` from it:

- ``name``, ``summary`` (one line), ``example`` (one command line, shown in ``--help``);
- ``input_kind``: ``"image"`` (IMAGE arguments: photos to edit) or ``"mask"`` (MASK: a mask whose
  layout every output follows, as in mask-to-face);
- ``options()``: extra click options (built lazily: click is cheap, torch is never imported);
- ``prepare(ctx, target, **options) -> list[EditRequest]``: the edit(s) for one input.
  One request writes one picture; several (mask-to-face) write a folder and a grid.
- ``requires``: optional model requirement, e.g. ``{"eye_window": "mask"}``.

Operations receive an :class:`OpContext` to load further portraits (``ctx.portrait("ref.png")``,
``ctx.portrait("sample:3")``) with the same mask rules as the main input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LabelError, UsageError

if TYPE_CHECKING:  # numpy and labels load only when an operation runs: `--help` stays fast
    import numpy as np

    from .labels import LabelSchema


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


_SAMPLE = re.compile(r"^sample:(\d+)$")


def mask_path_beside(image_path: Path) -> Path:
    """The default mask of ``photo.jpg`` is ``photo.mask.png`` beside it."""
    return image_path.with_name(image_path.stem + ".mask.png")


def read_mask_for(path: Path, schema: LabelSchema) -> np.ndarray:
    """A mask file (id PNG naming its schema, or a colour picture in the model's palette),
    converted to ``schema`` by class names."""
    from .io import read_label_map
    from .labels import convert

    try:
        labels, file_schema = read_label_map(path)
    except LabelError as e:
        if "does not name its label schema" in str(e) or "colour mask" in str(e):
            labels, file_schema = read_label_map(path, schema)
        else:
            raise
    return convert(labels, file_schema, schema)


@dataclass
class OpContext:
    """Loads portraits for operations: files or ``sample:N``, with masks in the model schema."""

    schema: LabelSchema
    model_config: object = None
    parse: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    seed: int = 0
    cache: dict = field(default_factory=dict)

    def portrait(self, spec: str, mask: str | Path | None = None, need_mask: bool = True):
        """``spec``: an image path or ``sample:N``. ``mask``: an explicit mask file; else
        ``<stem>.mask.png`` beside the image; else the model's parser (when ``need_mask``)."""
        from .engine import Portrait
        from .io import read_image

        key = (spec, str(mask) if mask else None)
        if key in self.cache:
            return self.cache[key]
        m = _SAMPLE.match(str(spec))
        if m:
            from .samples import load_sample

            image, labels19 = load_sample(int(m.group(1)))
            from .labels import convert, get_schema

            labels = convert(labels19, get_schema("celebamask-19"), self.schema)
            if mask:
                labels = read_mask_for(Path(mask), self.schema)
            p = Portrait(image, labels, str(spec))
        else:
            path = Path(spec)
            image = read_image(path)
            mpath = Path(mask) if mask else mask_path_beside(path)
            labels = None
            if mask or mpath.exists():
                labels = read_mask_for(mpath, self.schema)
            elif need_mask and self.parse is None:
                raise UsageError(f"no mask for {path}: pass --mask or put {mpath.name} beside it "
                                 "(the model has no parser to make one)")
            p = Portrait(image, labels, str(spec))
            if labels is None and need_mask:
                p.labels = self.parse([image])[0]
        if need_mask and p.labels is not None and not p.labels.any():
            raise LabelError(f"the mask of {spec} has no face (background only): nothing to "
                             "edit or to take a style from")
        self.cache[key] = p
        return p

    def mask_only(self, spec: str) -> np.ndarray:
        """A mask given directly (``sample:N`` gives that sample's mask)."""
        m = _SAMPLE.match(str(spec))
        if m:
            return self.portrait(spec).labels
        return read_mask_for(Path(spec), self.schema)

    def reference_mask(self, spec: str) -> np.ndarray:
        """A reference layout: ``sample:N``, a mask file, or a photo (its mask, or parsed)."""
        if _SAMPLE.match(str(spec)):
            return self.portrait(spec).labels
        path = Path(spec)
        if _looks_like_mask(path):
            return read_mask_for(path, self.schema)
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
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode in ("L", "P") or "mgpe-schema" in img.info
    except OSError:
        return False
