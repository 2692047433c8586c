"""Reading and writing pictures, label maps and JSON, atomically and with clear errors.

Why one module: every command reads photos and masks and writes results; doing it in one place
gives the same conversions (grayscale, RGBA, 16-bit, CMYK -> 8-bit RGB), the same error messages
and the same guarantee everywhere that no half-written file is ever left behind (temp file in the
same folder, then ``os.replace``).

Label-map PNGs carry their schema in PNG text chunks (``mgpe-schema``, ``mgpe-classes``), so a
mask file names its labels explicitly, as the design asks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import ImageReadError, LabelError, MgpeError
from .labels import LabelSchema, get_schema

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _file_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give (mkstemp makes 0600 files)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", durable: bool = False):
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds.

    The rename makes the write all-or-nothing for other processes and against a killed process.
    ``durable`` also fsyncs before the rename (survives power loss too): for checkpoints and
    registry entries, not for the thousands of pictures a dataset holds, where it costs more
    than the rendering.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise MgpeError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise MgpeError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise MgpeError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def clean_write_temporaries(folder: str | os.PathLike, names) -> list[Path]:
    """Remove what a killed :func:`atomic_write` of the files ``names`` left in ``folder``
    (``.NAME.XXXX.tmp``); returns the removed paths. For a command starting over in its own
    folder: the finished files are never touched (they are renamed into place complete)."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for name in names:
        for p in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return sorted(removed)


def check_output_folder(path: str | os.PathLike, option: str = "--out") -> None:
    """Refuse, before any work starts, an output folder that cannot be made: the path is a file,
    or a file stands where one of its parent folders would go. Creates nothing."""
    from .errors import UsageError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {path}: {parent} is a file, not a folder")
            break


def write_bytes(path: str | os.PathLike, data: bytes, durable: bool = False) -> None:
    with atomic_write(path, "wb", durable=durable) as f:
        f.write(data)


def json_text(obj) -> str:
    """``obj`` as JSON for people to read: 2-space indents, and a list of plain values (numbers,
    strings, booleans, nulls) on one line, so a colour is one line and a 3x3 weight map three,
    not one number per line. ``json.loads`` reads it back as the same value."""
    def scalar(v) -> bool:
        return not isinstance(v, (dict, list, tuple))

    def fmt(o, pad: str) -> str:
        inner = pad + "  "
        if isinstance(o, dict) and o:
            items = [f"{inner}{json.dumps(k if isinstance(k, str) else json.dumps(k))}: "
                     f"{fmt(v, inner)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, (list, tuple)) and o and not all(map(scalar, o)):
            return "[\n" + ",\n".join(inner + fmt(v, inner) for v in o) + "\n" + pad + "]"
        if isinstance(o, (list, tuple)):
            return "[" + ", ".join(json.dumps(v) for v in o) + "]"
        return json.dumps(o)

    return fmt(obj, "") + "\n"


def write_json(path: str | os.PathLike, obj, durable: bool = False) -> None:
    write_bytes(path, json_text(obj).encode(), durable)


def read_json(path: str | os.PathLike, what: str = "JSON file"):
    """A JSON file's value (any JSON value: check its shape with
    :func:`mgpe_core.json_files.read_json_file`, which this is, without a shape)."""
    from .json_files import read_json_file

    return read_json_file(path, what)


#: The most pixels a picture may declare before mgpe decodes it (200 megapixels, e.g.
#: 14000 x 14000): a few-KB PNG can declare 40000 x 40000 and take gigabytes to decode (a
#: "decompression bomb"). ``MGPE_MAX_PIXELS`` raises (or lowers) it.
DEFAULT_MAX_PIXELS = 200_000_000
MAX_PIXELS_ENV = "MGPE_MAX_PIXELS"


def max_pixels() -> int:
    """The pixel-count limit in force: ``$MGPE_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise MgpeError(f"{MAX_PIXELS_ENV} must be a positive number of pixels, got "
                        f"{os.environ[MAX_PIXELS_ENV]!r}")
    return value


def pil_image_module():
    """``PIL.Image`` with PIL's own decompression-bomb check off: mgpe checks every picture's
    declared size itself (:func:`check_pixels`, before decoding, with a limit the user can
    raise), so PIL's ``DecompressionBombError`` / ``Warning`` never reach the user (a header-only
    ``Image.open`` anywhere stays harmless)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    return Image


def check_pixels(size: tuple[int, int], path, what: str = "image") -> None:
    """Refuse a picture of ``size`` (width, height, from its header) over :func:`max_pixels`."""
    w, h = size
    limit = max_pixels()
    if w * h > limit:
        raise ImageReadError(
            f"{what} {path} is {w}x{h} ({w * h / 1e6:.0f} megapixels), over mgpe's limit of "
            f"{limit / 1e6:g} megapixels (a decompression bomb?); if the file is trusted, "
            f"raise the limit: {MAX_PIXELS_ENV}={w * h}"
        )


def check_image_header(path: str | os.PathLike, what: str = "image") -> tuple[int, int]:
    """(width, height) of a picture from its header, refused (ImageReadError) when it is over
    the pixel limit or not a picture: the check to make before a decoder outside PIL runs."""
    size = image_size(path)
    check_pixels(size, path, what)
    return size


def check_regular_file(path: str | os.PathLike, what: str = "image") -> None:
    """Refuse what is not a regular file before it is opened: opening a FIFO (named pipe) for
    reading blocks until a writer comes, forever; a device or socket is no picture either.
    ``stat`` follows symlinks, so a link to a photo passes. A missing path is left to the
    reader (it says "not found" in its own words)."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(f"expected an image file, got a folder: {path}")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a special file")
        raise ImageReadError(f"{what} {path} is not a regular file: it is {kind}")


def _open_pil(path: Path, what: str = "image"):
    from PIL import UnidentifiedImageError

    Image = pil_image_module()
    if not path.exists():
        raise ImageReadError(f"image not found: {path}")
    check_regular_file(path, what)
    try:
        img = Image.open(path)
        check_pixels(img.size, path, what)  # from the header, before any decoding
        img.load()
    except Image.DecompressionBombError as e:  # PIL's own check, if someone turned it back on
        raise ImageReadError(f"{what} {path} is too large to decode: {e}") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"not an image (or an unsupported format): {path}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"cannot read image {path} (truncated or corrupt?): {e}") from None
    return img


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale 16-bit / float pictures to 8 bits."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        top = 65535 if arr.max(initial=0) > 255 else 255
        return np.clip(np.round(arr.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.clip(np.round(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def pil_to_rgb(img) -> np.ndarray:
    """Any PIL picture -> (H, W, 3) uint8: grayscale, RGBA (composited on white), CMYK,
    palette and 16-bit pictures are converted, not rejected."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = _to_uint8(np.asarray(img))
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img)
        arr = _to_uint8(arr / max(float(arr.max(initial=0)), 1e-8))
        return np.repeat(arr[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        return np.round(rgba[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    if mode == "RGB":  # no copy: a 12 MP photo's convert("RGB") costs ~10 ms for nothing
        return np.asarray(img, dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as (H, W, 3) uint8 RGB, upright: a phone picture's EXIF orientation (rotated
    or mirrored) is applied, as every viewer shows it."""
    from PIL import ImageOps

    path = Path(path)
    img = _open_pil(path)
    try:
        ImageOps.exif_transpose(img, in_place=True)  # our own picture: no copy of 12 MP
    except (OSError, SyntaxError, ValueError) as e:  # a corrupt EXIF block
        raise ImageReadError(f"cannot read image {path}: bad EXIF orientation: {e}") from None
    arr = pil_to_rgb(img)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"image {path} is empty")
    return np.ascontiguousarray(arr)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) read from the header only, for huge pictures."""
    Image = pil_image_module()
    path = Path(path)
    check_regular_file(path)
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError:
        raise ImageReadError(f"image not found: {path}") from None
    except Exception as e:  # PIL raises several types for bad headers
        raise ImageReadError(f"not an image (or an unsupported format): {path}: {e}") from None


def read_binary_mask(path: str | os.PathLike) -> np.ndarray:
    """A CelebAMask-HQ part file (white part on black, gray or RGB) -> bool (H, W)."""
    img = _open_pil(Path(path), "part mask")
    arr = np.asarray(img.convert("L"))
    return arr > 127


def encode_image(rgb: np.ndarray, suffix: str, quality: int = 95, png_level: int = 6) -> bytes:
    """Encode (H, W, 3) or (H, W) uint8 to PNG or JPEG bytes (deterministic for equal input).
    ``png_level``: zlib level of PNGs (1 encodes ~3x faster, ~13% larger; same pixels)."""
    from PIL import Image

    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8:
        raise MgpeError(f"encode_image expects uint8 pixels, got {rgb.dtype}")
    img = Image.fromarray(rgb)
    buf = io.BytesIO()
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        img.save(buf, format="JPEG", quality=quality, subsampling=0)
    elif suffix == ".png":
        img.save(buf, format="PNG", compress_level=png_level)
    elif suffix in (".bmp", ".tif", ".tiff", ".webp"):
        img.save(buf, format=Image.registered_extensions()[suffix])
    else:
        raise MgpeError(f"unsupported image suffix {suffix!r} (use .png or .jpg)")
    return buf.getvalue()


def write_image(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> None:
    """Write a picture atomically; the format follows the suffix."""
    path = Path(path)
    write_bytes(path, encode_image(rgb, path.suffix, quality))


def encode_label_map(labels: np.ndarray, schema: LabelSchema) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    labels = schema.validate(labels)
    info = PngInfo()
    info.add_text("mgpe-schema", schema.name)
    info.add_text("mgpe-classes", json.dumps(list(schema.classes)))
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(labels), mode="L").save(
        buf, format="PNG", pnginfo=info, compress_level=6
    )
    return buf.getvalue()


def write_label_map(path: str | os.PathLike, labels: np.ndarray, schema: LabelSchema) -> None:
    """Write an 8-bit single-channel PNG of class ids that names its schema inside."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise MgpeError(f"label maps are PNG files (lossless); got {path.name}")
    write_bytes(path, encode_label_map(labels, schema))


def _schema_chunks(info: dict, path: Path) -> tuple[str | None, tuple[str, ...] | None]:
    """The mask's ``mgpe-schema`` (a name) and ``mgpe-classes`` (a JSON list of class names)
    text chunks, checked: a LabelError naming the file and the chunk when one is malformed."""
    from .json_files import validate

    declared = info.get("mgpe-schema")
    if declared is not None and (not isinstance(declared, str) or not declared.strip()):
        raise LabelError(f"mask {path}: its mgpe-schema text chunk must name a schema, "
                         f"got {declared!r}")
    raw = info.get("mgpe-classes")
    if raw is None:
        return declared, None
    where = f"mask {path}: its mgpe-classes text chunk"
    if not isinstance(raw, (str, bytes)):
        raise LabelError(f"{where} is not text")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise LabelError(f"{where} is not valid JSON: {e}") from None
    classes = validate(value, list[str], where, LabelError)
    if not classes or len(classes) > 256:
        raise LabelError(f"{where}: expected 1 to 256 class names, got {len(classes)}")
    return declared, tuple(classes)


def read_label_map(
    path: str | os.PathLike, schema: str | LabelSchema | None = None
) -> tuple[np.ndarray, LabelSchema]:
    """Read a mask: an id PNG (schema from its text chunk, else ``schema``) or a colour picture
    in a schema's palette. Returns (ids uint8 (H, W), schema). Ids are checked against it.

    When the file names a schema and ``schema`` is given too, they must agree by class names
    (the caller converts between schemas explicitly, never silently).
    """
    path = Path(path)
    img = _open_pil(path, "mask")
    declared, declared_classes = _schema_chunks(img.info, path)
    want = get_schema(schema) if schema is not None else None
    file_schema = None
    if declared is not None:
        try:
            file_schema = get_schema(declared)
        except LabelError:
            if declared_classes is None:
                raise LabelError(f"mask {path}: unknown schema {declared!r}") from None
            file_schema = None
        if declared_classes is not None:
            classes = declared_classes
            if file_schema is None or file_schema.classes != classes:
                if want is not None and want.classes == classes:
                    file_schema = want
                else:
                    raise LabelError(
                        f"mask {path}: schema {declared!r} with classes {list(classes)} is not a "
                        "known schema; pass its definition or convert the mask"
                    )
    if file_schema is not None and want is not None and file_schema.classes != want.classes:
        raise LabelError(
            f"mask {path} is in schema {file_schema.name!r}, not {want.name!r}; convert it first"
        )
    schema_used = file_schema or want
    if img.mode in ("L", "I", "I;16"):
        if schema_used is None:
            raise LabelError(
                f"mask {path} does not name its label schema; pass the schema (e.g. mgpe-11)"
            )
        labels = np.asarray(img)
        if labels.ndim != 2:
            raise LabelError(f"mask {path}: expected a single-channel id picture")
        return schema_used.validate(labels.astype(np.int64), what=f"mask {path}"), schema_used
    # A colour-coded mask (palette picture): map colours back to ids.
    if schema_used is None:
        raise LabelError(f"colour mask {path}: pass the schema its colours come from")
    rgb = pil_to_rgb(img)
    try:
        return schema_used.decolorize(rgb), schema_used
    except LabelError as e:
        raise LabelError(f"mask {path}: {e}") from None
