"""``mgpe faces``: list the faces of a photo (what the real-photo pipeline would edit)."""

from __future__ import annotations

import click

from mgpe_core import hookimpl


def no_face_hint(tiles: int) -> str:
    """What to try when no face was found (the search's reach depends on ``--tiles``)."""
    more = f"; --tiles {tiles + 1} halves that" if tiles < 3 else ""
    return (f"try a photo where the face is larger (faces from about {8 / 2 ** tiles:g} % of "
            f"the photo's longer side were searched{more}), sharp, not cut by the border and "
            "roughly upright (turned less than about 45 degrees)")


@click.command("faces")
@click.argument("photo", metavar="PHOTO")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per face).")
@click.option("--min-score", default=0.5, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Detector confidence below which a face is ignored.")
@click.option("--tiles", default=1, show_default=True, type=click.IntRange(0, 3),
              help="Levels of tiles searched besides the whole photo: each finds faces half as "
                   "large (0: faces from ~8 % of the longer side, 1: ~4 %, 2: ~2 %).")
def faces_command(photo, as_json, min_score, tiles):
    """List the faces found in PHOTO, largest first: index, box, score, eye distance.

    The photo is read upright (EXIF orientation applied). Index 0 is the largest face.
    Needs the photos extra: pip install 'mgpe[photos]'.

    Example: mgpe faces group.jpg --json
    """
    import json

    from mgpe_core.console import err_console, out_console
    from mgpe_core.errors import MgpeError
    from mgpe_core.faces.detect import find_faces
    from mgpe_core.faces.photo import read_photo
    from mgpe_core.samples import SAMPLE_SPEC, load_sample

    m = SAMPLE_SPEC.match(photo)
    image = load_sample(int(m.group(1)))[0] if m else read_photo(photo)
    found = find_faces(image, min_score=min_score, tiles=tiles)
    h, w = image.shape[:2]
    if as_json:  # one face per line: readable, and valid JSON
        rows = [json.dumps({"index": i, **f.to_dict()}) for i, f in enumerate(found)]
        click.echo("[\n" + ",\n".join("  " + r for r in rows) + "\n]" if rows else "[]")
    if not found:
        raise MgpeError(f"no face found in {photo} ({w}x{h}): {no_face_hint(tiles)}")
    if as_json:
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} face(s) in {photo} ({w}x{h})", title_justify="left")
    for col in ("index", "box (x0, y0, x1, y1)", "score", "eye distance px", "roll deg"):
        table.add_column(col, justify="left" if col.startswith("box") else "right")
    for i, f in enumerate(found):
        box = ", ".join(f"{v:.0f}" for v in f.box)
        table.add_row(str(i), box, f"{f.score:.3f}", f"{f.eye_distance:.1f}",
                      f"{f.roll_degrees:+.1f}" + ("" if f.landmarks is not None else " *"))
    out_console.print(table)
    if any(f.landmarks is None for f in found):
        err_console.print("* no face mesh: eyes and mouth from the detector's key points "
                          "(coarser)")


@hookimpl
def register_commands(cli):
    cli.add_command(faces_command)
