"""The operation context of a served session: photos by id and the built-in samples, never a
file. Operations load portraits through their context (``ctx.portrait(spec)``, masks,
references, folders of style sources); a client's option value reaches them as it was sent,
so every way a context could touch the file system is closed here, generically, whatever the
operation does with the value."""

from __future__ import annotations

from pathlib import Path

from mgpe_core.errors import UsageError
from mgpe_core.operations import OpContext


def refuse(spec) -> UsageError:
    return UsageError(f"{str(spec)[:80]!r} is not a photo of this session: give a photo id "
                      "(from POST .../photos) or sample:N; the server reads no file paths")


class SessionContext(OpContext):
    """An :class:`~mgpe_core.operations.OpContext` whose portraits are the session's photos
    (``portraits``, by id) and ``sample:N``; any other spec is refused (400), so no client
    string is ever opened, listed or even checked for existence on the server's disk."""

    def read_photo(self, spec, mask=None, need_mask: bool = True):
        raise refuse(spec)

    def _mask_file(self, path: Path):
        raise refuse(path)

    def reference_mask(self, spec):
        if str(spec) in self.portraits or str(spec).startswith("sample:"):
            return super().reference_mask(spec)
        raise refuse(spec)

    def expand_sources(self, specs) -> list[str]:
        # "samples" expands as on the command line; a folder would be read from disk: refused
        out: list[str] = []
        for spec in specs:
            out += super().expand_sources([spec]) if spec == "samples" else [str(spec)]
        return out
