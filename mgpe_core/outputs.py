"""The one output-path policy of every command that writes pictures (docs/errors.md,
"Outputs never replace your files").

A command plans every file it will write (:class:`OutputPlan`), registers every file it
reads, and calls :meth:`OutputPlan.check` before it loads a network or writes anything:

- an output never replaces an input of the same command (resolved paths compared, and
  ``os.path.samefile`` where both exist: hard links, case-insensitive file systems), whatever
  ``--overwrite`` says;
- two outputs never go to one path: inputs of the same stem from different folders get
  distinct names (:func:`output_stems`);
- an output never replaces an existing file unless ``--overwrite`` is given. "Its own previous
  output" is not guessed: any existing file is refused (one ``stat`` per output, and the rule a
  user can predict without knowing how mgpe marks its files; a mark could be copied along with a
  file the user then worked on).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MgpeError

_SAMPLE_PREFIX = "sample:"


class OutputConflict(MgpeError):
    """An output would replace an input, another output or an existing file (exit code 1)."""


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve(strict=False)


def output_stems(specs) -> list[str]:
    """The name stem of each input's outputs: its file stem (``sample:3`` -> ``sample-3``).
    Inputs whose stems clash (``a/x.jpg b/x.jpg``, the same file twice, ``X.png x.png``) are
    numbered in command-line order, ``x-1``, ``x-2``, skipping stems another input has."""
    stems = [s.replace(":", "-") if s.startswith(_SAMPLE_PREFIX) else Path(s).stem
             for s in map(str, specs)]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s.casefold()] = counts.get(s.casefold(), 0) + 1
    taken = {s.casefold() for s in stems}
    out, k = [], {}
    for s in stems:
        if counts[s.casefold()] == 1:
            out.append(s)
            continue
        n = k.get(s.casefold(), 0)
        while True:
            n += 1
            name = f"{s}-{n}"
            if name.casefold() not in taken:
                break
        k[s.casefold()] = n
        taken.add(name.casefold())
        out.append(name)
    return out


class OutputPlan:
    """Every file a command reads and writes, checked together before any work."""

    def __init__(self, overwrite: bool = False):
        self.overwrite = overwrite
        self.inputs: dict[Path, str] = {}  # resolved -> as given
        self.outputs: dict[Path, tuple[str, str]] = {}  # resolved -> (as given, what)
        self._duplicates: list[str] = []

    # -- what is read ---------------------------------------------------------------------
    def read(self, *paths) -> None:
        """Register files the command reads (``sample:N`` and None are ignored)."""
        for p in paths:
            if p is None or str(p).startswith(_SAMPLE_PREFIX) or str(p) == "":
                continue
            self.inputs.setdefault(_resolved(p), str(p))

    def read_photo(self, *paths) -> None:
        """A photo and the mask mgpe reads beside it (``<stem>.mask.png``), if there is one."""
        for p in paths:
            if p is None or str(p).startswith(_SAMPLE_PREFIX):
                continue
            self.read(p)
            beside = Path(p).with_name(Path(p).stem + ".mask.png")
            if beside.exists():
                self.read(beside)

    def read_values(self, values) -> None:
        """Option values of an operation, read generically: a value (or list item) naming an
        existing file is an input, with its mask beside it; a folder's pictures are inputs."""
        for v in values:
            if isinstance(v, (list, tuple)):
                self.read_values(v)
            elif isinstance(v, (str, os.PathLike)) and not str(v).startswith(_SAMPLE_PREFIX):
                p = Path(v)
                try:
                    if p.is_file():
                        self.read_photo(p)
                    elif p.is_dir():
                        self.read(*(q for q in p.iterdir() if q.is_file()))
                except OSError:  # a value that is not a path (too long, odd characters)
                    continue

    # -- what is written ------------------------------------------------------------------
    def add(self, path, what: str = "output") -> Path:
        """Plan one output file; returns ``path`` as given."""
        key = _resolved(path)
        if key in self.outputs:
            self._duplicates.append(f"{path} ({self.outputs[key][1]} and {what})")
        else:
            self.outputs[key] = (str(path), what)
        return Path(path)

    def check(self) -> None:
        """Raise :class:`OutputConflict` naming the first offending path (and how many more),
        in this order: an output that is an input, two outputs on one path, an output that
        would replace an existing file (unless ``overwrite``)."""
        ids = {i for i in map(_file_id, self.inputs) if i is not None}
        clash = [given for key, (given, _what) in self.outputs.items()
                 if key in self.inputs or (ids and _file_id(key) in ids)]
        if clash:
            raise OutputConflict(
                f"{clash[0]}: the output would replace a file this command reads; mgpe never "
                f"overwrites its inputs (choose another --out){_more(clash)}")
        if self._duplicates:
            raise OutputConflict(f"{self._duplicates[0]}: two outputs would be written to one "
                                 f"path{_more(self._duplicates)}")
        if self.overwrite:
            return
        existing = []
        for key, (given, _what) in self.outputs.items():
            if os.path.lexists(key):
                existing.append(f"{given}" + (" (a folder)" if key.is_dir() else ""))
        if existing:
            raise OutputConflict(f"{existing[0]} already exists: add --overwrite to replace it "
                                 f"(or choose another --out){_more(existing)}")


def _file_id(path: Path):
    """(device, inode) of an existing file, else None: equal ids are one file (hard links,
    case-insensitive file systems), as ``os.path.samefile`` decides."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _more(items) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""
