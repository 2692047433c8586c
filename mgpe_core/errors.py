"""Typed errors raised by the library; only the CLI turns them into messages and exit codes.

Every error an end user can cause derives from :class:`MgpeError`, whose message must name the
problem (the file, the value, what was expected) in one line.
"""


class MgpeError(Exception):
    """Base class: a failure the user can act on (exit code 1 in the CLI)."""


class UsageError(MgpeError):
    """The request itself is wrong (unknown name, bad option value): exit code 2 in the CLI."""


class LabelError(MgpeError):
    """A label map or schema is invalid (ids outside the schema, unknown schema, bad colours)."""


class ImageReadError(MgpeError):
    """A picture could not be read: missing, truncated, or not an image."""


class DatasetError(MgpeError):
    """A dataset folder is missing pieces or is inconsistent."""
