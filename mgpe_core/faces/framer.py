"""Photos brought to a model's framing for editing, and the edit brought back.

:class:`FaceFramer` is what :class:`~mgpe_core.operations.OpContext` calls for photo files
(``OpContext.framer``): it finds the faces, aligns the chosen one to the model's framing
(:mod:`.align`), warps the photo's own mask along (nearest) when there is one, or labels the
crop with the face mesh (``parser="landmarks"``), and returns a :class:`FramedPortrait`: an
ordinary :class:`~mgpe_core.engine.Portrait` of the aligned crop that remembers the photo and
the transform. Operations and the engine work on the crop as on any portrait; the CLI then
pastes the edited crop back with :func:`put_back`, so the output has the photo's size and only
the edited region's pixels differ from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import Portrait
from ..errors import MgpeError, UsageError

#: Faces whose eyes are closer than this (photo px) are too small to edit: the model would see
#: an upscaled blur (its own faces have about 30 px between the eyes at 128 px).
MIN_EYE_PX = 16

#: ``--parser`` choices the framer understands beside a model's own parser.
LANDMARKS = "landmarks"


class NoFace(MgpeError):
    """No usable face in a photo (none found, too small, or the index asked for is missing)."""


@dataclass(eq=False)
class FramedPortrait(Portrait):
    """The aligned crop of one face of a photo: ``image``/``labels`` at the model's resolution,
    ``photo`` the whole photo, ``aligned`` the transform, ``face`` the detected face and its
    index (0 = largest), ``photo_labels`` the photo's own mask (full size) when it had one."""

    photo: np.ndarray | None = None
    aligned: object = None
    face: object = None
    face_index: int = 0
    photo_labels: np.ndarray | None = None


def parse_face_choice(text: str | int | None) -> int | str:
    """``--face``: an index (0 = largest) or ``all``."""
    if text is None:
        return 0
    if isinstance(text, int):
        choice = text
    elif str(text).strip().lower() == "all":
        return "all"
    else:
        try:
            choice = int(str(text))
        except ValueError:
            raise UsageError(f"--face {text}: give a face index (0 = the largest, see "
                             "`mgpe faces PHOTO`) or 'all'") from None
    if choice < 0:
        raise UsageError(f"--face {text}: face indices start at 0 (the largest face)")
    return choice


class FaceFramer:
    """Finds and aligns faces of photos for a model: ``size`` (its resolution), ``framing``
    (its config's, :func:`~.framing.framing_for`), ``schema`` (its label schema), ``parser``
    (None: the model's parser labels crops without a mask; ``"landmarks"``: the face mesh
    does)."""

    def __init__(self, size: int, framing, schema, parser: str | None = None,
                 min_eye_px: float = MIN_EYE_PX):
        from .framing import get_framing

        self.size = int(size)
        self.framing = get_framing(framing)
        self.schema = schema
        self.parser = parser
        self.min_eye_px = float(min_eye_px)
        self._faces: dict[int, list] = {}  # id(photo array) -> faces (a photo is read once)

    def faces(self, photo: np.ndarray, spec: str) -> list:
        from .detect import find_faces

        key = id(photo)
        if key not in self._faces:
            self._faces[key] = (photo, find_faces(photo))
        return self._faces[key][1]

    def frame(self, photo: np.ndarray, labels: np.ndarray | None, spec: str,
              which: int | str = 0) -> list[FramedPortrait]:
        """The aligned crops of ``photo``'s face ``which`` (an index, or ``"all"``: every face
        large enough), each with the photo's mask warped along (``labels``, photo-sized) or the
        landmark labels, or no labels (for the model's parser)."""
        faces = self.faces(photo, spec)
        if not faces:
            raise NoFace(f"no face found in {spec}: mgpe edits faces seen from the front, at "
                         "least about 4% of the picture's longer side; try a larger or less "
                         "turned face, or --align whole if the picture already is a face crop "
                         "framed like the model's")
        if which == "all":
            picked = [(k, f) for k, f in enumerate(faces) if f.eye_distance >= self.min_eye_px]
            if not picked:
                raise NoFace(f"every face in {spec} is too small to edit (eyes at most "
                             f"{max(f.eye_distance for f in faces):.0f} px apart; at least "
                             f"{self.min_eye_px:.0f}): use a larger photo of them")
        else:
            if which >= len(faces):
                raise NoFace(f"{spec} has {len(faces)} face{'s' if len(faces) != 1 else ''} "
                             f"(0 = the largest); --face {which} does not exist (`mgpe faces "
                             f"{spec}` lists them)")
            face = faces[which]
            if face.eye_distance < self.min_eye_px:
                raise NoFace(f"face {which} in {spec} is too small to edit: its eyes are "
                             f"{face.eye_distance:.0f} px apart, at least {self.min_eye_px:.0f}"
                             " are needed; use a larger photo of it")
            picked = [(which, face)]
        return [self._crop(photo, labels, spec, k, f, len(picked) > 1) for k, f in picked]

    def _crop(self, photo, labels, spec, k, face, several: bool) -> FramedPortrait:
        from .align import align_face
        from .warp import warp_labels

        aligned = align_face(photo, face, self.size, self.framing)
        crop_labels = None
        if labels is not None:
            crop_labels = warp_labels(labels, aligned.matrix, (self.size, self.size))
        elif self.parser == LANDMARKS:
            from .landmark_parser import parse_landmarks

            full = parse_landmarks(photo, face, self.schema)
            crop_labels = warp_labels(full, aligned.matrix, (self.size, self.size))
        name = f"{spec} (face {k})" if several or k else spec
        return FramedPortrait(aligned.image, crop_labels, name, photo=photo, aligned=aligned,
                              face=face, face_index=k, photo_labels=labels)


def put_back(photo: np.ndarray, target: FramedPortrait, generated: np.ndarray,
             region: np.ndarray) -> np.ndarray:
    """``photo`` with the generated crop blended back inside ``region`` (crop coordinates):
    every pixel outside the warped, feathered region is ``photo``'s, bit for bit."""
    from .paste import paste_back

    return paste_back(photo, target.aligned, generated, region)


def mask_back(base: np.ndarray | None, target: FramedPortrait, crop_mask: np.ndarray
              ) -> np.ndarray:
    """The photo-sized mask the edit followed: ``base`` (the photo's own mask, or background)
    with the crop's mask warped back (nearest) over the face's footprint."""
    from .warp import warp_labels

    hw = target.aligned.photo_hw
    out = np.zeros(hw, np.uint8) if base is None else np.array(base, dtype=np.uint8)
    inside = ~target.aligned.outside
    back = warp_labels(crop_mask, target.aligned.inverse, hw)
    cover = warp_labels(inside.astype(np.uint8), target.aligned.inverse, hw).astype(bool)
    out[cover] = back[cover]
    return out
