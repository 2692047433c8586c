"""Real photos to the model's framing and back: find faces, align one, paste the edit back.

mgpe's models were trained on square crops with the face at a fixed place (their *framing*).
An ordinary portrait photo (any size, any framing, several people, EXIF-rotated) is brought to
that framing and back by this package, one job per module:

- :mod:`.photo`: read a photo upright (EXIF orientation applied).
- :mod:`.detect`: :func:`~.detect.find_faces` -> :class:`~.detect.Face` (box, score, 478-point
  mesh, eye and mouth centres), largest first; needs the ``photos`` extra (mediapipe).
- :mod:`.framing`: where eyes and mouth sit in a model's square (:class:`~.framing.Framing`),
  the built-in framings and :func:`~.framing.framing_for` a model config.
- :mod:`.align`: the similarity transform onto a framing and the aligned crop
  (:func:`~.align.align_face` -> :class:`~.align.Aligned`).
- :mod:`.paste`: :func:`~.paste.paste_back` an edited crop into the photo (feathered, nothing
  outside the edited region touched).
- :mod:`.warp`: the one affine resampler (antialiased, padded) the two directions share.
- :mod:`.landmark_parser`: a coarse label map from the mesh and a person segmentation, for
  photos without a trained parser.
- :mod:`.framer`: photos to a model's framing for operations (``OpContext.framer``) and the
  edited crop back into the photo, for ``mgpe edit``.
- :mod:`.dataset`: a folder of photos to aligned faces with part masks in the CelebAMask-HQ
  layout (``mgpe align``), for training on one's own photos.
- :mod:`.scenes`: faces placed on a canvas with a known transform (the ground truth of
  tests/test_faces.py and bench/bench_faces.py).

This ``__init__`` imports nothing (``mgpe --help`` stays fast); import the modules.
"""
