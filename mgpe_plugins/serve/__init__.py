"""``mgpe serve``: the mask editor in the browser (a command plugin).

A local web app over one loaded model: open a photo (upload or a sample), paint its mask,
run any registered operation, download the result, its mask and a replayable edit. The
server (``app.py``, Starlette + uvicorn, the ``serve`` extra) drives every operation through
the plugin registry and the edit engine, as ``mgpe edit`` does; the page is static files in
``static/``. The API: docs/serve-api.md; the page: docs/serve.md.

This module imports click and ``mgpe_core`` only: ``mgpe --help`` loads no web stack.
"""

from __future__ import annotations

import click

from mgpe_core import hookimpl
from mgpe_core.errors import MgpeError

#: What to install when the web stack is missing.
INSTALL_HINT = "pip install 'mgpe[serve]'"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def require_web_stack() -> None:
    """A one-line error naming the extra when starlette, uvicorn or python-multipart is
    missing."""
    import importlib.util

    missing = [name for name, modules in (("starlette", ("starlette",)),
                                          ("uvicorn", ("uvicorn",)),
                                          ("python-multipart", ("python_multipart", "multipart")))
               if all(importlib.util.find_spec(m) is None for m in modules)]
    if missing:
        names = ", ".join(missing)
        raise MgpeError(f"mgpe serve needs the serve extra ({names} missing): {INSTALL_HINT}")


@click.command("serve")
@click.option("--model", default=None,
              help="Registered model name or model folder [default: mgpe-synth-128].")
@click.option("--variant", default=None, metavar="NAME", help="A variant the model declares.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0: any free port, printed).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but 127.0.0.1/localhost exposes the editor "
                   "to other machines: only on a network you trust.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:<index>.")
@click.option("--embedding-cache", default=None, type=click.IntRange(0), hidden=True,
              help="Portraits whose embeddings are kept (0: off; for bench/bench_serve.py).")
def serve_command(model, variant, port, host, open_browser, device, embedding_cache):
    """Edit faces in the browser: paint masks, run every operation, download results.

    \b
    Starts a local web app (http://127.0.0.1:8000 by default) over one model. Photos stay in
    memory (sessions expire after 30 idle minutes); nothing is written to disk.
    Needs the serve extra: pip install 'mgpe[serve]'.

    Example: mgpe serve --open
    """
    from mgpe_core.console import err_console

    require_web_stack()
    from .run import serve

    if host not in LOCAL_HOSTS:
        err_console.print(f"[yellow]warning[/]: listening on {host}: anyone who can reach this "
                          "machine on that address can use the editor and its CPU/GPU; there "
                          "is no login. Use only on a network you trust.", highlight=False)
    serve(model=model, variant=variant, host=host, port=port, device=device,
          open_browser=open_browser, embedding_cache=embedding_cache)


@hookimpl
def register_commands(cli):
    cli.add_command(serve_command)
