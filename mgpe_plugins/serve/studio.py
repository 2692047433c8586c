"""The model side of ``mgpe serve``: one loaded model, photos brought to its framing, and edits
run through the registry and the :class:`~mgpe_core.engine.Editor`, as ``mgpe edit`` runs them.

Nothing here knows HTTP, and nothing knows an operation: operations are looked up by name in
the plugin registry, their options parsed by their own click options
(:func:`mgpe_core.operations.parse_options`), and the requests they prepare go to the engine.
One edit runs at a time (``lock``): the networks share the CPU cores anyway, and the embedding
cache is shared by every session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from mgpe_core.errors import MgpeError, NothingToDo, UsageError

#: Portraits the embedding cache keeps (each: a squared photo, its labels and five latent
#: means; plus as many decoded donor combinations): a few MB at 128 px.
DEFAULT_EMBEDDING_CACHE = 64


@dataclass(eq=False)
class Photo:
    """One photo of a session: the full picture, the face crop the edits run on (``portrait``:
    a :class:`~mgpe_core.faces.framer.FramedPortrait` for a framed upload, else a plain
    portrait of the whole picture, with its own labels), and the current mask (the crop's
    size), which the page paints and renders follow."""

    pid: str
    photo: np.ndarray
    portrait: object
    mask: np.ndarray
    faces: list = field(default_factory=list)
    face: int = 0
    sample: int | None = None  # sample:N, or None for an upload
    framed: bool = False

    @property
    def spec(self) -> str:
        return f"sample:{self.sample}" if self.sample is not None else self.pid

    def view(self):
        """The portrait with the current mask as its labels: what operations see (a reference
        or layout taken from this photo follows what the user painted)."""
        from copy import copy

        v = copy(self.portrait)
        v.labels = self.mask
        v.name = self.pid
        return v


@dataclass(eq=False)
class Result:
    """One edited picture: the requests it came from (re-run lazily for the other view), the
    pictures computed so far, the mask the edit followed and its replay record."""

    rid: str
    pid: str
    request: object
    mask: np.ndarray
    image: np.ndarray | None = None  # the whole photo, pasted back
    face: np.ndarray | None = None  # the model's square at its resolution
    replay: tuple | None = None  # (record, files): see replay.build

    def get_view(self, view: str):
        return self.image if view == "photo" else self.face

    def set_view(self, view: str, pixels) -> None:
        if view == "photo":
            self.image = pixels
        else:
            self.face = pixels


class Studio:
    """The served model: name resolution and ``config.json`` first (cheap, so a bad name is
    refused before torch loads), then the networks, once, in an Editor with the embedding
    cache on."""

    def __init__(self, model: str | None = None, variant: str | None = None,
                 device: str = "cpu", embedding_cache: int = DEFAULT_EMBEDDING_CACHE):
        from mgpe_core.registry import DEFAULT_MODEL, editing_model

        info = editing_model(model, variant)
        self.entry, self.has_parser = info.entry, info.has_parser
        self.architecture, self.config = info.architecture, info.config
        self.schema, self.resolution = info.schema, info.resolution
        self.model_name = model or DEFAULT_MODEL
        self.variant = variant
        self.device = device
        self.embedding_cache = embedding_cache
        self.lock = threading.RLock()
        self._editor = None
        self.photos_extra = _has_photos_extra()

    # -- loading ------------------------------------------------------------------------------

    def editor(self):
        """The Editor (networks loaded on first use), with the embedding cache when on."""
        if self._editor is None:
            from mgpe_core.device import resolve_device
            from mgpe_core.engine import Editor
            from mgpe_core.registry import load_model

            dev = resolve_device(self.device)
            entry = self.entry
            model = load_model(entry.path if entry.source == "path" else entry.name, device=dev)
            self._editor = Editor(model, device=dev, embedding_cache=self.embedding_cache)
        return self._editor

    def framer(self):
        """The face framer of ``mgpe edit --align face`` for this model (None without the
        photos extra: photos are then used whole)."""
        if not self.photos_extra:
            return None
        from mgpe_core.faces.framer import LANDMARKS, FaceFramer
        from mgpe_core.faces.framing import framing_for

        return FaceFramer(self.resolution, framing_for(self.config.model), self.schema,
                          parser=None if self.has_parser else LANDMARKS)

    def parse(self, images):
        return self.editor().parse(images)

    def context(self, photos: dict):
        """An operation context over a session's photos (by id) and the samples; no path."""
        from .sandbox import SessionContext

        return SessionContext(self.schema, self.config,
                              parse=self.parse if self.has_parser else None,
                              portraits={pid: p.view() for pid, p in photos.items()})

    # -- photos -------------------------------------------------------------------------------

    def sample_photo(self, pid: str, n: int) -> Photo:
        from mgpe_core.engine import Portrait
        from mgpe_core.labels import convert, get_schema
        from mgpe_core.samples import load_sample

        image, labels19 = load_sample(n)
        labels = convert(labels19, get_schema("celebamask-19"), self.schema)
        portrait = Portrait(image, labels, f"sample:{n}")
        return Photo(pid, image, portrait, labels.copy(), sample=n)

    def upload_photo(self, pid: str, image: np.ndarray, align: str = "auto",
                     face: int = 0) -> Photo:
        """An uploaded picture as ``mgpe edit --align`` takes it: ``auto`` frames it when the
        photos extra is installed (else uses it whole), ``face`` frames it (an error without
        the extra), ``whole`` uses it as a face crop."""
        from mgpe_core.engine import Portrait

        if align not in ("auto", "face", "whole"):
            raise UsageError(f"align must be auto, face or whole, got {align!r}")
        framer = None if align == "whole" else self.framer()
        if align == "face" and framer is None:
            raise UsageError("align=face needs the photos extra: pip install 'mgpe[photos]'")
        if framer is None:
            if not self.has_parser:
                raise UsageError(f"model {self.entry.name} has no parser to label a photo "
                                 "used whole; install the photos extra to frame it")
            with self.lock:
                labels = self.parse([image])[0]
            _check_face(labels, "the photo")
            return Photo(pid, image, Portrait(image, labels, pid), labels.copy())
        with self.lock:  # the face detector and the parser: one at a time, as edits
            found = framer.faces(image, "the photo")
            crop = framer.frame(image, None, "the photo", face)[0]
            if crop.labels is None:
                crop.labels = self.parse([crop.image])[0]
        _check_face(crop.labels, "the photo")
        crop.name = pid
        faces = [{"index": i, "box": [round(float(v), 1) for v in f.box]}
                 for i, f in enumerate(found)]
        return Photo(pid, image, crop, crop.labels.copy(), faces=faces, face=face, framed=True)

    # -- edits --------------------------------------------------------------------------------

    def prepare(self, op, photo: Photo, photos: dict, options: dict) -> list:
        """The operation's requests on ``photo`` with its current mask as the layout, and their
        targets put back on the photo itself: the edited region is then everything that
        differs from the photo's own labels (what the user painted and what the operation
        changed), as in a render."""
        from mgpe_core.engine import edit_region

        ctx = self.context(photos)
        views = ctx.portraits
        if op.input_kind == "mask":
            requests = op.prepare(ctx, photo.pid, **options)
        else:
            requests = op.prepare(ctx, views[photo.pid], **options)
        originals = {id(views[pid]): p.portrait for pid, p in photos.items()}
        masks = {id(views[pid]): p.mask for pid, p in photos.items()}
        for req in requests:
            if id(req.target) in originals:
                if req.mask is None:
                    req.mask = masks[id(req.target)]
                req.target = originals[id(req.target)]
            req.styles = {c: originals.get(id(s), s) for c, s in req.styles.items()}
        if not requests or not any(edit_region(r, self.schema).any() for r in requests):
            raise NothingToDo(f"{op.name}: nothing to do: the edit changes no pixel of the mask "
                              "and restyles nothing")
        return requests

    def run(self, requests: list, view: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(picture, mask used) per request: ``view="face"``, the model's square at its
        resolution; ``"photo"``, the whole photo with the edit pasted back, as ``mgpe edit``
        writes it (a framed face warped back into the photo inside the edited region)."""
        from mgpe_core.engine import edit_region
        from mgpe_core.faces.framer import FramedPortrait, put_back

        editor = self.editor()
        with self.lock:
            framed = any(isinstance(r.target, FramedPortrait) for r in requests)
            if view == "face" or framed:
                done = editor.edit(requests, paste_back=False)
            else:
                done = editor.edit(requests, paste_back=True)
        out = []
        for req, res in zip(requests, done, strict=True):
            mask = req.mask if req.mask is not None else req.target.labels
            if view == "photo" and isinstance(req.target, FramedPortrait):
                region = edit_region(req, self.schema) if req.keep_unedited else \
                    (res.mask != 0) | (req.target.labels != 0)
                out.append((put_back(req.target.photo, req.target, res.model_image, region),
                            mask))
            else:
                out.append((res.image, mask))
        return out


def _check_face(labels, what: str) -> None:
    if not labels.any():
        from mgpe_core.errors import LabelError

        raise LabelError(f"no face in {what}: its mask is background only")


def _has_photos_extra() -> bool:
    import importlib.util

    return importlib.util.find_spec("mediapipe") is not None


__all__ = ["Photo", "Result", "Studio", "MgpeError"]
