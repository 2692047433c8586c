"""Converters from other projects' released weights to mgpe model folders.

Import-light (no torch here): the CLI imports this package for ``--help``. The converters live in
submodules (``pth``: the one safe reader of ``.pth`` files; ``bisenet``: face-parsing.PyTorch's
BiSeNet face parser) and import torch inside their functions.
"""

from __future__ import annotations

from ..errors import MgpeError

#: Converters by source name (``mgpe models convert SOURCE FILE``): "module:function".
CONVERTERS: dict[str, str] = {
    "bisenet-face-parsing": "mgpe_core.convert.bisenet:convert_bisenet",
}


class ConvertError(MgpeError):
    """A file to convert is missing, unreadable, unsafe, or not the expected network."""
