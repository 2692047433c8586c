"""Converters from other projects' released weights to mgpe model folders.

Import-light (no torch here): the CLI imports this package for ``--help``. The converters live in
submodules (``pth``: the one safe reader of ``.pth`` files; ``bisenet``: face-parsing.PyTorch's
BiSeNet face parser; ``original``: the authors' MGPE release) and import torch inside their
functions.
"""

from __future__ import annotations

from ..errors import MgpeError

#: Converters by source name (``mgpe models convert SOURCE FILE``): "module:function".
CONVERTERS: dict[str, str] = {
    "bisenet-face-parsing": "mgpe_core.convert.bisenet:convert_bisenet",
    "original-mgpe": "mgpe_core.convert.original:convert_original",
}
#: Sources whose input is a folder of files (the others take one file).
FOLDER_SOURCES: frozenset[str] = frozenset({"original-mgpe"})
#: Sources whose converter takes ``parser=MODEL`` (``--parser``: an installed model's parser).
PARSER_SOURCES: frozenset[str] = frozenset({"original-mgpe"})


class ConvertError(MgpeError):
    """A file to convert is missing, unreadable, unsafe, or not the expected network."""
