"""Entry point of the ``mgpe`` command: the root group and the error policy.

Error policy (one place for the whole CLI): library code raises typed errors; here they become one
line on stderr and an exit code: 2 for usage errors (click's and :class:`mgpe_core.UsageError`),
1 for other failures (an :class:`OSError` from the file system, such as a file where a folder
should be created, counts as one), 130 for Ctrl-C. A traceback is shown only with ``--debug`` (or
``MGPE_DEBUG=1``), so users see what went wrong, not where.
"""

from __future__ import annotations

import os
import sys

import click

from mgpe_core import __version__

from .lazy import LazyGroup

#: The CLI's own commands, imported only when used: the front of the registries (the edit group
#: built from the registered operations, models, plugins). Every command that does a job (data,
#: train, parse, demo, eval, fid) is a command plugin in mgpe_plugins (docs/architecture.md).
BUILTIN_COMMANDS = {
    "edit": "mgpe_cli.commands.edit:edit",
    "models": "mgpe_cli.commands.models:models",
    "plugins": "mgpe_cli.commands.plugins:plugins",
}


def load_plugin_commands(group: click.Group) -> None:
    """Plugins' commands join the root group; plugin failures are reported, not fatal."""
    from mgpe_core.plugins import register_commands

    from .console import report_plugin_errors

    register_commands(group)
    report_plugin_errors()

EPILOG = """\b
Examples:
  mgpe data synth faces/ --count 100 --size 256     # procedural portraits with exact labels
  mgpe data prepare faces/ prepared/ --size 128     # CelebAMask-HQ layout -> training folder
  mgpe data check prepared/                         # validate it and show class statistics
  mgpe train-parser --data prepared/ --out runs/parser
  mgpe train --data prepared/ --parser runs/parser --out runs/g128 --steps 20000
  mgpe edit swap-mouth sample:0 --reference sample:4 -o open-mouth.png
  mgpe edit style sample:1 --from sample:5 --regions hair -o hair.png
  mgpe models list
"""


@click.group(
    cls=LazyGroup,
    lazy_commands=BUILTIN_COMMANDS,
    load_plugins=lambda group: load_plugin_commands(group),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, "--version", "-V", prog_name="mgpe")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """mgpe: mask-guided portrait editing with conditional GANs.

    Edit portraits by editing their face-parsing masks and by mixing per-region styles between
    photos; train and evaluate the model; extend it with plugins.
    """


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MGPE_DEBUG", "") not in ("", "0")


def _print_error(prefix: str, message: str) -> None:
    """One message on stderr; the text is never parsed as rich markup (it may hold [ids])."""
    from rich.text import Text

    from .console import err_console

    err_console.print(Text.assemble((f"{prefix}: ", "bold red"), message), soft_wrap=True)


def _os_error_message(e: OSError) -> str:
    """``PATH: reason`` (``SRC -> DEST: reason`` for a rename), not Python's ``[Errno N] ...``."""
    reason = e.strerror or str(e)
    if e.filename is None:
        return reason
    where = str(e.filename) if e.filename2 is None else f"{e.filename} -> {e.filename2}"
    return f"{where}: {reason}"


def _interrupted(error: BaseException) -> bool:
    """Whether an exception came from Ctrl-C: a KeyboardInterrupt in its cause or context
    chain (click raises ``Abort() from e`` for it, and ``from None`` inside prompts, which still
    keeps the context)."""
    seen = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and turn errors into messages and exit codes (see module docstring)."""
    from mgpe_core.errors import MgpeError, UsageError

    from .console import err_console

    argv_given = argv
    # CPU threads sleep while they wait instead of spinning (before torch loads OpenMP): with
    # other work on the cores, spinning made a cold `mgpe edit` 2.8x slower and a training step
    # up to 25x; alone it is as fast (bench/README.md). An explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if argv_given is None:
        # Only for the process this command owns (not when called as a function): large
        # tensors reuse freed heap pages instead of page-faulting fresh ones on every call,
        # 1.12-1.21x for batched edits and 1.16x per 128 px training step (mgpe_core/heap.py).
        from mgpe_core.heap import retain_freed_memory

        retain_freed_memory()
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = _debug_requested(argv)
    try:
        rv = cli.main(args=argv, prog_name="mgpe", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except click.exceptions.Abort as e:
        # click turns Ctrl-C (KeyboardInterrupt) into Abort: that is an interruption like any
        # other. A declined confirmation (``click.confirm(abort=True)``, or end of input at a
        # prompt) is the user's "no": "Aborted.", exit 1.
        if _interrupted(e):
            err_console.print("Interrupted.")
            code = 130
        else:
            err_console.print("Aborted.")
            code = 1
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        code = 130
    except UsageError as e:
        if debug:
            raise
        _print_error("Error", str(e))
        code = 2
    except MgpeError as e:
        if debug:
            raise
        _print_error("Error", str(e))
        code = 1
    except OSError as e:  # the file system said no (a file in the way, no permission, disk full)
        if debug:
            raise
        _print_error("Error", _os_error_message(e))
        code = 1
    except Exception as e:  # a bug, not bad input: still no traceback unless asked
        if debug:
            raise
        _print_error(
            "Internal error",
            f"{type(e).__name__}: {e}\n"
            "Run again with --debug for the traceback, and please report it.",
        )
        code = 1
    if argv_given is None:
        # The process ends next. Its final garbage collection would walk every object torch
        # created (about 0.4 s on the CPU machine); frozen objects are skipped. Not when
        # called as a function (tests), where the objects must stay collectable.
        import gc

        gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
