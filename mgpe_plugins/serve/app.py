"""The ASGI app of ``mgpe serve`` (Starlette): routes, request checks and error answers.

Every answer to a bad request is a 4xx with ``{"error": message}``; an unexpected failure is a
500 with a fixed message, its traceback in the server's log only, and the server keeps
serving. Networks run in worker threads (``anyio.to_thread``), never on the event loop. The
API is documented in docs/serve-api.md.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from mgpe_core.errors import ImageReadError, LabelError, MgpeError, NothingToDo, UsageError

from .coalesce import Coalescer, Superseded
from .pictures import TooLarge
from .sessions import NotFound, SessionStore, new_id

log = logging.getLogger("mgpe.serve")

STATIC_DIR = Path(__file__).with_name("static")
#: Largest upload (and request body) accepted, in bytes.
DEFAULT_UPLOAD_BYTES = 25 * 1024 * 1024
#: Picture formats an upload may be in (PIL decoders): nothing that runs an outside program.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
INTERNAL = "internal error (logged on the server)"
VIEWS = ("face", "photo")


class Unsupported(UsageError):
    """A request body of the wrong media type (415)."""


def status_of(e: MgpeError) -> int:
    """The HTTP status of an mgpe error: what the user can fix, and how."""
    from mgpe_core.faces.framer import NoFace

    for cls, status in ((NotFound, 404), (Superseded, 409), (TooLarge, 413),
                        (Unsupported, 415), (NoFace, 422), (NothingToDo, 422),
                        (LabelError, 400), (ImageReadError, 400)):
        if isinstance(e, cls):
            return status
    return 400


def api(handler):
    """Wrap a route: mgpe errors -> their 4xx JSON; anything else -> a logged 500."""
    @functools.wraps(handler)
    async def wrapped(request: Request):
        try:
            return await handler(request)
        except MgpeError as e:
            return JSONResponse({"error": str(e)}, status_code=status_of(e))
        except Exception:  # noqa: BLE001 - the server must survive any failure
            log.exception("error serving %s %s", request.method, request.url.path)
            return JSONResponse({"error": INTERNAL}, status_code=500)
    return wrapped


async def _http_error(request: Request, exc: HTTPException):
    """The router's own answers (no such route: 404, wrong method: 405) in the API's JSON."""
    text = {404: f"no such address: {request.url.path[:200]}",
            405: f"{request.method} is not allowed on {request.url.path[:200]}"}
    return JSONResponse({"error": text.get(exc.status_code, str(exc.detail))},
                        status_code=exc.status_code, headers=exc.headers)


def png_response(data: bytes, headers: dict | None = None) -> Response:
    return Response(data, media_type="image/png",
                    headers={"Cache-Control": "no-store", **(headers or {})})


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) over ``limit`` bytes: from Content-Length before
    reading, and while streaming (a client may lie or send none)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"upload is {int(declared)} bytes, over the limit of {limit} bytes")
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise TooLarge(f"upload is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, limit: int) -> dict:
    body = await read_body(request, limit)
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError) as e:
        raise UsageError(f"request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise UsageError("request body must be a JSON object")
    return data


def field(data: dict, name: str, kind, required: bool = True, default=None):
    if name not in data or data[name] is None:
        if required:
            raise UsageError(f"missing field {name!r}")
        return default
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise UsageError(f"field {name!r} must be {want}, got {type(value).__name__}")
    return value


def create_app(model: str | None = None, variant: str | None = None, device: str = "cpu", *,
               studio=None, max_sessions: int = 32, session_ttl: float = 1800.0,
               max_photos: int = 16, max_results: int = 32,
               upload_bytes: int = DEFAULT_UPLOAD_BYTES, embedding_cache: int | None = None,
               clock=time.monotonic, static_dir: Path | None = None,
               max_bytes: int = 2 << 30, allowed_hosts: list[str] | None = None) -> Starlette:
    """The app for one model. ``studio``: a :class:`~.studio.Studio` to share (tests);
    else one is made for ``model``/``variant``/``device`` (its name checked now, its
    networks loaded on first use: :meth:`Studio.editor`). Limits: sessions (count, idle
    seconds), photos and results per session, the pictures of all sessions together
    (``max_bytes``), upload bytes; ``clock`` for the idle time. ``allowed_hosts``: the Host
    headers accepted (``mgpe serve`` on 127.0.0.1 accepts only local names, so a web page
    that rebinds its own domain to 127.0.0.1 cannot reach the API); None: any."""
    from .studio import DEFAULT_EMBEDDING_CACHE, Studio

    if studio is None:
        studio = Studio(model, variant, device,
                        DEFAULT_EMBEDDING_CACHE if embedding_cache is None else embedding_cache)
    store = SessionStore(max_sessions, session_ttl, max_photos, max_results, clock, max_bytes)
    static = Path(static_dir) if static_dir is not None else STATIC_DIR
    handlers = Handlers(studio, store, int(upload_bytes), static)
    h = handlers
    routes = [
        Route("/", api(h.index)),
        Route("/static/{path:path}", api(h.static)),
        Route("/api/info", api(h.info)),
        Route("/api/samples/{name}", api(h.sample)),
        Route("/api/sessions", api(h.new_session), methods=["POST"]),
        Route("/api/sessions/{sid}", api(h.delete_session), methods=["DELETE"]),
        Route("/api/sessions/{sid}/photos", api(h.add_photo), methods=["POST"]),
        Route("/api/sessions/{sid}/photos/{pid}/mask", api(h.set_mask), methods=["POST"]),
        Route("/api/sessions/{sid}/photos/{pid}/{name}", api(h.photo_file)),
        Route("/api/sessions/{sid}/render", api(h.render), methods=["POST"]),
        Route("/api/sessions/{sid}/edit", api(h.edit), methods=["POST"]),
        Route("/api/sessions/{sid}/results/{rid}/files/{name}", api(h.result_extra)),
        Route("/api/sessions/{sid}/results/{rid}/{name}", api(h.result_file)),
    ]
    middleware = []
    if allowed_hosts is not None:
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={HTTPException: _http_error})
    app.state.studio, app.state.store, app.state.handlers = studio, store, handlers
    return app


_SAMPLE_NAME = re.compile(r"^(\d{1,4})\.png$")
_SPEC = re.compile(r"^sample:(\d{1,4})$")


class Handlers:
    """The routes' bodies (one method each), over one studio and one session store."""

    def __init__(self, studio, store: SessionStore, upload_bytes: int, static: Path):
        self.studio, self.store, self.upload_bytes, self.static_root = \
            studio, store, upload_bytes, static
        self._info = None

    # -- page ---------------------------------------------------------------------------------

    async def index(self, request):
        page = self.static_root / "index.html"
        if not page.is_file():
            raise NotFound("the page is not installed (mgpe_plugins/serve/static/index.html)")
        return FileResponse(page)

    async def static(self, request):
        rel = request.path_params["path"]
        parts = Path(rel).parts
        if not rel or rel.startswith("/") or "\\" in rel or \
                any(p in ("..", ".") or p.startswith(".") for p in parts):
            raise NotFound(f"no static file {rel!r}")
        root = self.static_root.resolve()
        path = (root / rel).resolve()
        if root not in path.parents or not path.is_file():  # no folders, nothing outside
            raise NotFound(f"no static file {rel!r}")
        return FileResponse(path)

    # -- model --------------------------------------------------------------------------------

    async def info(self, request):
        if self._info is None:
            self._info = self._describe()
        return JSONResponse(self._info)

    def _describe(self) -> dict:
        from mgpe_core.components import COMPONENT_NAMES
        from mgpe_core.io import max_pixels
        from mgpe_core.plugins import load_plugins
        from mgpe_core.samples import sample_count

        from .options import describe_operation

        s = self.studio
        palette = s.schema.palette
        return {
            "model": {"name": s.entry.name, "resolution": s.resolution, "variant": s.variant},
            "schema": {"name": s.schema.name,
                       "classes": [{"id": i, "name": n, "color": [int(v) for v in palette[i]]}
                                   for i, n in enumerate(s.schema.classes)]},
            "components": list(COMPONENT_NAMES),
            "operations": [describe_operation(op)
                           for op in load_plugins().operations.values()],
            "samples": [{"spec": f"sample:{i}", "url": f"/api/samples/{i}.png"}
                        for i in range(sample_count())],
            "limits": {"upload_bytes": self.upload_bytes, "max_pixels": max_pixels()},
            "photos_extra": bool(s.photos_extra),
        }

    async def sample(self, request):
        from mgpe_core.samples import sample_count, sample_paths

        m = _SAMPLE_NAME.match(request.path_params["name"])
        if not m or int(m.group(1)) >= sample_count():
            raise NotFound(f"no sample {request.path_params['name']!r} (there are "
                           f"{sample_count()}: 0.png to {sample_count() - 1}.png)")
        n = int(m.group(1))
        data = await anyio.to_thread.run_sync(self._sample_png, n, sample_paths(n)[0])
        return png_response(data)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one Handlers per app, samples are few
    def _sample_png(self, n: int, path) -> bytes:
        from mgpe_core.io import read_image

        from .pictures import png

        return png(read_image(path))

    # -- sessions -----------------------------------------------------------------------------

    async def new_session(self, request):
        s = self.store.create()
        s.render = Coalescer()
        return JSONResponse({"session": s.sid})

    async def delete_session(self, request):
        sid = request.path_params["sid"]
        self.store.delete(sid)
        return JSONResponse({"deleted": sid})

    async def add_photo(self, request):
        s = self.store.get(request.path_params["sid"])
        face = _query_int(request, "face", 0)
        align = request.query_params.get("align", "auto")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        pid = new_id()
        if ctype == "application/json":
            data = await json_body(request, self.upload_bytes)
            n = field(data, "sample", int)
            from mgpe_core.samples import sample_paths

            sample_paths(n)  # a UsageError naming the range
            photo = await anyio.to_thread.run_sync(self.studio.sample_photo, pid, n)
        elif ctype == "multipart/form-data":
            data = await self._upload(request)
            photo = await anyio.to_thread.run_sync(self._decode_and_frame, pid, data, align,
                                                   face)
        else:
            raise Unsupported("send a picture as multipart/form-data (field 'file') or a sample "
                              "as JSON {\"sample\": N}, not " + (ctype or "no content type"))
        s.photos.add(pid, photo)
        self.store.trim(s)
        h, w = photo.photo.shape[:2]
        mh, mw = photo.mask.shape
        return JSONResponse({"photo": pid, "width": w, "height": h, "faces": photo.faces,
                             "face": photo.face, "size": self.studio.resolution,
                             "mask_size": [mw, mh], "framed": photo.framed})

    async def _upload(self, request) -> bytes:
        from starlette.formparsers import MultiPartException, MultiPartParser

        body = await read_body(request, self.upload_bytes + 64 * 1024)  # + multipart headers

        async def stream():
            yield body

        try:
            form = await MultiPartParser(request.headers, stream(), max_files=1,
                                         max_fields=8).parse()
        except MultiPartException as e:
            raise UsageError(f"bad multipart upload: {e.message}") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UsageError("multipart upload needs a file in the field 'file'")
        ctype = (upload.content_type or "").lower()
        if ctype and not (ctype.startswith("image/") or ctype == "application/octet-stream"):
            raise Unsupported(f"only pictures can be uploaded, not {ctype}")
        data = await upload.read()
        if len(data) > self.upload_bytes:
            raise TooLarge(f"upload is {len(data)} bytes, over the limit of "
                           f"{self.upload_bytes} bytes")
        return data

    def _decode_and_frame(self, pid, data, align, face):
        from .pictures import decode_image

        return self.studio.upload_photo(pid, decode_image(data, "upload",
                                                          formats=UPLOAD_FORMATS),
                                        align, face)

    async def photo_file(self, request):
        s = self.store.get(request.path_params["sid"])
        p = s.photos.find(request.path_params["pid"])
        name = request.path_params["name"]
        schema = self.studio.schema
        from .pictures import mask_png, png

        makers = {"photo.png": lambda: png(p.photo), "face.png": lambda: png(p.portrait.image),
                  "mask.png": lambda: mask_png(p.mask, schema),
                  "mask-color.png": lambda: png(schema.colorize(p.mask))}
        if name not in makers:
            raise NotFound(f"no file {name!r} of a photo (photo.png, face.png, mask.png, "
                           "mask-color.png)")
        return png_response(await anyio.to_thread.run_sync(makers[name]))

    async def set_mask(self, request):
        s = self.store.get(request.path_params["sid"])
        p = s.photos.find(request.path_params["pid"])
        data = await json_body(request, self.upload_bytes)
        if "result" in data:
            r = s.results.find(field(data, "result", str))
            if r.mask.shape != p.mask.shape or r.pid != p.pid:
                raise UsageError(f"result {r.rid} was made from another photo: its mask does "
                                 "not fit this one")
            p.mask = r.mask.copy()
        else:
            p.mask = self._mask(data, p)
        return JSONResponse({"photo": p.pid})

    def _mask(self, data, photo):
        from .pictures import decode_mask

        h, w = photo.mask.shape
        return decode_mask(field(data, "mask", str), self.studio.schema, (w, h))

    # -- edits --------------------------------------------------------------------------------

    def _styles(self, s, value) -> tuple[dict, dict]:
        """(component -> portrait, component -> spec) of a render's ``styles``."""
        from mgpe_core.components import COMPONENT_NAMES
        from mgpe_core.errors import did_you_mean

        if value is None:
            return {}, {}
        if not isinstance(value, dict):
            raise UsageError("styles must be an object: component -> photo id or sample:N")
        out, specs = {}, {}
        for comp, spec in value.items():
            if comp not in COMPONENT_NAMES:
                hint = did_you_mean(comp, COMPONENT_NAMES)
                raise UsageError(f"unknown component {comp!r}; known: "
                                 f"{', '.join(COMPONENT_NAMES)}.{hint}")
            if not isinstance(spec, str):
                raise UsageError(f"styles.{comp} must be a photo id or sample:N")
            m = _SPEC.match(spec)
            if m:
                out[comp] = self._sample_portrait(int(m.group(1)))
            else:
                out[comp] = s.photos.find(spec).portrait
            specs[comp] = spec
        return out, specs

    @functools.lru_cache(maxsize=32)  # noqa: B019 - samples are few and read-only
    def _sample_portrait(self, n: int):
        return self.studio.sample_photo(f"sample:{n}", n).portrait

    async def render(self, request):
        from mgpe_core.engine import EditRequest

        from . import replay
        from .studio import Result

        s = self.store.get(request.path_params["sid"])
        data = await json_body(request, self.upload_bytes)
        p = s.photos.find(field(data, "photo", str))
        view = _view(data)
        mask = self._mask(data, p) if data.get("mask") is not None else None
        styles, specs = self._styles(s, data.get("styles"))
        if mask is not None:
            p.mask = mask
        req = EditRequest(p.portrait, mask=p.mask, styles=styles)
        photos = dict(s.photos)
        record, files = replay.build(self.studio, p, photos, None, {}, specs)

        def job():
            from .pictures import png

            image, used = self.studio.run([req], view)[0]
            return image, used, png(image)

        image, used, data_png = await anyio.to_thread.run_sync(s.render.submit, job)
        r = Result(new_id(), p.pid, req, used)
        r.set_view(view, image)
        r.replay = (record, files)
        s.results.add(r.rid, r)
        self.store.trim(s)
        return png_response(data_png, {"X-Mgpe-Result": r.rid})

    async def edit(self, request):
        from mgpe_core.operations import parse_options

        from . import replay
        from .options import to_args
        from .studio import Result

        s = self.store.get(request.path_params["sid"])
        data = await json_body(request, self.upload_bytes)
        op = _operation(field(data, "op", str))
        p = s.photos.find(field(data, "photo", str))
        view = _view(data)
        options = field(data, "options", dict, required=False, default={})
        params = parse_options(op, to_args(op, options))
        photos = dict(s.photos)
        record, files = replay.build(self.studio, p, photos, op.name, params,
                                     input_kind=op.input_kind)
        studio = self.studio

        def job():
            with studio.lock:
                requests = studio.prepare(op, p, photos, params)
                return requests, studio.run(requests, view)

        requests, outs = await anyio.to_thread.run_sync(job)
        base = f"/api/sessions/{s.sid}/results"
        answer = []
        for i, (req, (image, used)) in enumerate(zip(requests, outs, strict=True)):
            r = Result(new_id(), p.pid, req, used)
            r.set_view(view, image)
            r.replay = ({**record, "result_index": i} if len(requests) > 1 else record, files)
            s.results.add(r.rid, r)
            answer.append({"result": r.rid, "image": f"{base}/{r.rid}/image.png",
                           "face": f"{base}/{r.rid}/face.png",
                           "mask": f"{base}/{r.rid}/mask.png"})
        self.store.trim(s)
        return JSONResponse({"results": answer,
                             "replay": f"{base}/{answer[0]['result']}/edit.json"})

    # -- results ------------------------------------------------------------------------------

    def _record(self, s, r) -> dict:
        record, files = r.replay
        base = f"/api/sessions/{s.sid}/results/{r.rid}/files"
        return {**record, "files": {name: f"{base}/{name}" for name in files}}

    async def result_file(self, request):
        from . import replay
        from .pictures import mask_png, png

        s = self.store.get(request.path_params["sid"])
        r = s.results.find(request.path_params["rid"])
        name = request.path_params["name"]
        if name in ("image.png", "face.png"):
            view = "photo" if name == "image.png" else "face"
            if r.get_view(view) is None:
                r.set_view(view, await anyio.to_thread.run_sync(self._rerun, r, view))
            return png_response(await anyio.to_thread.run_sync(png, r.get_view(view)))
        if name == "mask.png":
            return png_response(mask_png(r.mask, self.studio.schema))
        if name == "edit.json":
            return JSONResponse(self._record(s, r), headers={
                "Content-Disposition": 'attachment; filename="edit.json"'})
        if name == "replay.zip":
            data = await anyio.to_thread.run_sync(
                replay.zip_bytes, self._record(s, r), r.replay[1], self.studio.schema)
            return Response(data, media_type="application/zip", headers={
                "Content-Disposition": 'attachment; filename="mgpe-edit.zip"'})
        raise NotFound(f"no file {name!r} of a result (image.png, face.png, mask.png, "
                       "edit.json, replay.zip)")

    def _rerun(self, r, view):
        return self.studio.run([r.request], view)[0][0]

    async def result_extra(self, request):
        from . import replay

        s = self.store.get(request.path_params["sid"])
        r = s.results.find(request.path_params["rid"])
        name = request.path_params["name"]
        files = r.replay[1]
        if name not in files:
            raise NotFound(f"no file {name!r} in this result's replay")
        kind, pixels = files[name]
        return png_response(await anyio.to_thread.run_sync(
            replay.encode_file, kind, pixels, self.studio.schema))


def _view(data: dict) -> str:
    view = field(data, "view", str, required=False, default="photo")
    if view not in VIEWS:
        raise UsageError(f"view must be face or photo, got {view!r}")
    return view


def _operation(name: str):
    from mgpe_core.plugins import get_operation, load_plugins

    if name not in load_plugins().operations:
        try:
            get_operation(name)
        except UsageError as e:
            raise NotFound(str(e)) from None
    return get_operation(name)


def _query_int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise UsageError(f"query {name} must be a whole number >= 0, got {raw[:20]!r}")
    return int(raw)
