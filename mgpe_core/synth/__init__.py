"""``mgpe-synth``: procedural portraits with exact CelebAMask-HQ part labels.

Pure numpy (Pillow only to encode files), cheap to import. Three entry points:

- :func:`sample_attributes` draws a face's attributes from a ``numpy.random.Generator``;
- :func:`render_face` renders attributes at any size into (image, part masks);
- :func:`write_dataset` writes faces in the real CelebAMask-HQ on-disk layout.
"""

from .attributes import SYNTH_VERSION, sample_attributes
from .render import Scene, render_face, render_scene
from .writer import face_rng, write_dataset

__all__ = ["SYNTH_VERSION", "Scene", "face_rng", "render_face", "render_scene",
           "sample_attributes", "write_dataset"]
