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


class NothingToDo(MgpeError):
    """The request is valid but would change nothing (removing a part the face lacks): said
    so, and nothing is written (exit code 1 in the CLI)."""


def close_matches(name: object, known, cutoff: float = 0.5, n: int = 3) -> list[str]:
    """The entries of ``known`` closest to a mistyped ``name`` (best first; maybe none)."""
    import difflib

    return difflib.get_close_matches(str(name), [str(k) for k in known], n=n, cutoff=cutoff)


def did_you_mean(name: object, known, cutoff: float = 0.5, n: int = 3) -> str:
    """`` Did you mean: a, b?`` naming the close matches of ``name`` among ``known`` (empty when
    none is close): the one way every "unknown X" message suggests a fix."""
    close = close_matches(name, known, cutoff, n)
    return f" Did you mean: {', '.join(close)}?" if close else ""
