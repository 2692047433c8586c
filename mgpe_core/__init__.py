"""mgpe core library: labels, data, models, training, metrics, registry and the edit engine.

Importing this package is cheap (no torch): heavy modules are imported where they are used.
"""

__version__ = "0.1.0"

from .errors import DatasetError, ImageReadError, LabelError, MgpeError, UsageError  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402

__all__ = ["__version__", "hookimpl", "MgpeError", "UsageError", "LabelError", "ImageReadError",
           "DatasetError"]
