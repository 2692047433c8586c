"""Running the app under uvicorn for ``mgpe serve``: the model's name is checked before the
socket opens, the networks load in the background while the page is already served (the
first edit waits for them), and the address is printed once listening."""

from __future__ import annotations

import logging
import threading


def serve(model=None, variant=None, host="127.0.0.1", port=8000, device="cpu",
          open_browser=False, **limits) -> None:
    import uvicorn

    from mgpe_core.console import err_console

    from . import LOCAL_HOSTS
    from .app import create_app

    if host in LOCAL_HOSTS:  # DNS rebinding: only requests that name this machine
        limits.setdefault("allowed_hosts", ["127.0.0.1", "localhost", "::1", "[::1]"])
    app = create_app(model, variant, device, **limits)
    studio = app.state.studio
    threading.Thread(target=_warm, args=(studio,), daemon=True, name="mgpe-load").start()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)

    def announce():
        import time

        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.02)
        sockets = [s for srv in getattr(server, "servers", []) for s in srv.sockets]
        bound = sockets[0].getsockname()[1] if sockets else port
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/"
        err_console.print(f"mgpe serve: model {studio.entry.name} at [bold]{url}[/] "
                          "(Ctrl-C stops)", highlight=False)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    threading.Thread(target=announce, daemon=True, name="mgpe-announce").start()
    server.run()


def _warm(studio) -> None:
    """Load the networks now, so the first edit does not wait (a failure is reported when
    an edit needs them)."""
    try:
        with studio.lock:
            studio.editor()
    except Exception:  # noqa: BLE001 - reported again, as a 4xx/500, by the first edit
        logging.getLogger("mgpe.serve").exception("loading the model failed")
