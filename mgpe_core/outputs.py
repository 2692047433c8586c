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

Commands that write a folder (``data synth``, ``data prepare``, ``align``, ``train``,
``train-parser``, ``eval --out``, ``demo``) plan it with :meth:`OutputPlan.add_folder`: a folder
is the command's own when it holds the command's record file (``manifest.json``, ``run.json``,
...), which is how such commands already resume or extend their work; those are written into.
Any other folder with files in it is refused unless ``--overwrite``, and an output folder is
never a folder the command reads, nor contains one.
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
        self.input_folders: dict[Path, str] = {}
        self.folders: dict[Path, tuple[str, tuple[str, ...], str, str]] = {}

    # -- what is read ---------------------------------------------------------------------
    def read(self, *paths) -> None:
        """Register files the command reads (``sample:N`` and None are ignored)."""
        for p in paths:
            if p is None or str(p).startswith(_SAMPLE_PREFIX) or str(p) == "":
                continue
            self.inputs.setdefault(_resolved(p), str(p))

    def read_folder(self, *paths) -> None:
        """Register folders the command reads as a whole (a data set, a folder of photos)."""
        for p in paths:
            if p is not None:
                self.input_folders.setdefault(_resolved(p), str(p))

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

    def add_folder(self, path, record, command: str, option: str = "OUT") -> Path:
        """Plan an output folder. ``record``: the file name (or names) by which a folder is
        this command's own earlier output (written into: resumed, extended or refreshed, as
        the command documents); ``command`` names the command in messages (``mgpe data
        prepare``); ``option`` names the argument (``--out``)."""
        records = (record,) if isinstance(record, str) else tuple(record)
        self.folders[_resolved(path)] = (str(path), records, command, option)
        return Path(path)

    def check(self) -> None:
        """Raise :class:`OutputConflict` naming the first offending path (and how many more),
        in this order: an output that is an input, two outputs on one path, an output that
        would replace an existing file (unless ``overwrite``); then the planned folders
        (:meth:`add_folder`)."""
        self._check_files()
        for key, (given, records, command, option) in self.folders.items():
            _check_folder(key, given, records, command, option, self.input_folders,
                          self.inputs, self.overwrite)

    def _check_files(self) -> None:
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


def _check_folder(key: Path, given: str, records, command: str, option: str, input_folders,
                  inputs, overwrite: bool) -> None:
    from .io import check_output_folder

    check_output_folder(key, option)  # a file in the way: a usage error naming it
    for inp, inp_given in [*input_folders.items(), *inputs.items()]:
        # a folder inside an input folder is fine (the commands leave their own output out
        # when they read); around an input, a written name could be the input's
        if key == inp or key in inp.parents:
            where = "is" if key == inp else "contains"
            raise OutputConflict(
                f"{option} {given} {where} {inp_given}, which this command reads; mgpe never "
                "writes over what it reads (choose another folder)")
    if overwrite or not key.is_dir():
        return
    if any((key / r).is_file() for r in records):
        return  # the command's own earlier output: it documents what it does with it
    if any(not p.name.startswith(".") for p in key.iterdir()):
        raise OutputConflict(
            f"{option} {given} is a folder with other files in it, not an earlier `{command}` "
            f"output (that has {records[0]}): choose a new or empty folder, or add --overwrite "
            "to write into it (files of the same names are replaced)")


def check_folder_output(path, record, command: str, *, overwrite: bool = False, reads=(),
                        read_files=(), option: str = "OUT") -> None:
    """One output folder, checked as :meth:`OutputPlan.add_folder` describes, against the
    folders (``reads``) and files (``read_files``) the command reads."""
    plan = OutputPlan(overwrite)
    plan.read_folder(*reads)
    plan.read(*read_files)
    plan.add_folder(path, record, command, option)
    plan.check()


def overwrite_option(what: str = "files"):
    """The ``--overwrite`` flag every writing command shares (help text names ``what``)."""
    import click

    return click.option("--overwrite", is_flag=True,
                        help=f"Write into an existing folder or replace existing {what} "
                             "(never an input of the command).")


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
