"""Every built-in operation's ``prepare()``, without a model: the requests it builds.

Each test makes an ``OpContext`` with the mgpe-11 schema only (no model, no parser: the built-in
samples carry their masks), passes the options exactly as ``mgpe edit`` would (parsed by the
operation's own click options, defaults included) and checks the ``EditRequest``s: which mask
pixels change and to what, which portraits give which component styles, and the errors for bad
options. The geometry is reached through ``op.prepare`` only, never through the functions
behind it, so these tests hold wherever an operation keeps its geometry. Nothing here loads
torch or a network.
"""

import inspect

import click
import numpy as np
import pytest

from mgpe_core.errors import LabelError, NothingToDo, UsageError
from mgpe_core.io import write_image, write_label_map
from mgpe_core.labels import get_schema
from mgpe_core.operations import OpContext
from mgpe_core.plugins import get_operation

M11 = get_schema("mgpe-11")
BUILTIN_OPS = ("mask-to-face", "swap-mouth", "swap-eyes", "swap-brows", "swap-nose",
               "edit-mask", "bangs", "style")
COMPONENTS = {"l_eye", "r_eye", "mouth", "skin", "hair"}
SAMPLES_WITHOUT_BANGS = ("sample:0", "sample:1", "sample:4")  # sample:4 is bald
SAMPLE_WITH_BANGS = "sample:3"


@pytest.fixture
def ctx():
    return OpContext(M11)


def options(op, *args) -> dict:
    """``prepare``'s keyword arguments for command-line ``args``, as ``mgpe edit`` passes them."""
    command = click.Command(op.name, params=list(op.options()))
    with command.make_context(op.name, list(args)) as c:
        return dict(c.params)


def prepare(ctx, name, target, *args):
    op = get_operation(name)
    if op.input_kind == "image":
        target = ctx.portrait(target)
    return op.prepare(ctx, target, **options(op, *args))


def ids(*names) -> list[int]:
    return [M11.index(n) for n in names]


def box(labels, names):
    """Inclusive (y0, y1, x0, x1) of the pixels of ``names``; None without any."""
    ys, xs = np.nonzero(np.isin(labels, ids(*names)))
    return None if ys.size == 0 else (ys.min(), ys.max(), xs.min(), xs.max())


def centre(b):
    return (b[0] + b[1] + 1) / 2, (b[2] + b[3] + 1) / 2


def transitions(before, after) -> set[tuple[str, str]]:
    """The (old class, new class) pairs of the pixels that changed."""
    diff = before != after
    pairs = np.unique(np.stack([before[diff], after[diff]]), axis=1)
    return {(M11.classes[a], M11.classes[b]) for a, b in pairs.T}


def one(requests):
    assert isinstance(requests, list) and len(requests) == 1
    return requests[0]


# -- the operations and their options ------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_OPS)
def test_options_are_the_keyword_arguments_of_prepare(name):
    op = get_operation(name)
    params = list(inspect.signature(op.prepare).parameters)
    assert params[:2] == ["ctx", "target"]
    assert [o.name for o in op.options()] == params[2:]


# -- component swaps -----------------------------------------------------------------------------

SWAPS = {  # operation -> (classes moved as one piece, or one piece per class), reference
    "swap-mouth": ([("u_lip", "mouth", "l_lip")], "sample:4"),
    "swap-eyes": ([("l_eye",), ("r_eye",)], "sample:7"),
    "swap-brows": ([("l_brow",), ("r_brow",)], "sample:3"),
    "swap-nose": ([("nose",)], "sample:5"),
}


@pytest.mark.parametrize("name", SWAPS)
def test_swap_takes_the_reference_shape_at_the_targets_centre(ctx, name):
    pieces, reference = SWAPS[name]
    target, ref = ctx.portrait("sample:0"), ctx.portrait(reference).labels
    req = one(prepare(ctx, name, "sample:0", "--reference", reference))
    assert req.target is target and req.styles == {}  # every style stays the photo's
    new, old = req.mask, target.labels
    moved = [c for piece in pieces for c in piece]
    # only the component and the skin it leaves or covers change
    allowed = {"skin", *moved}
    assert transitions(old, new) and all(a in allowed and b in allowed
                                         for a, b in transitions(old, new))
    for piece in pieces:
        # each piece keeps the target's centre (within the half pixel of a whole shift) ...
        (ty, tx), (ny, nx) = centre(box(old, piece)), centre(box(new, piece))
        assert abs(ny - ty) <= 0.5 and abs(nx - tx) <= 0.5, piece
        # ... and is the reference's piece, class by class, moved by a whole number of pixels
        ry, rx = centre(box(ref, piece))
        dy, dx = int(np.floor(ty - ry + 0.5)), int(np.floor(tx - rx + 0.5))
        ys, xs = np.nonzero(np.isin(ref, ids(*piece)))
        np.testing.assert_array_equal(new[ys + dy, xs + dx], ref[ys, xs])
        assert np.isin(new, ids(*piece)).sum() == ys.size  # nothing else of those classes
    assert not np.array_equal(np.isin(new, ids(*moved)), np.isin(old, ids(*moved)))


def test_swap_mouth_opens_a_closed_mouth(ctx):
    old = ctx.portrait("sample:0").labels
    assert not (old == M11.index("mouth")).any()  # closed
    new = one(prepare(ctx, "swap-mouth", "sample:0", "--reference", "sample:4")).mask
    ref = ctx.portrait("sample:4").labels
    assert (new == M11.index("mouth")).sum() == (ref == M11.index("mouth")).sum() > 0


def test_swap_reference_may_be_a_mask_file(ctx, tmp_path):
    path = tmp_path / "ref.mask.png"
    write_label_map(path, ctx.portrait("sample:7").labels, M11)
    from_file = one(prepare(ctx, "swap-eyes", "sample:1", "--reference", str(path))).mask
    from_sample = one(prepare(ctx, "swap-eyes", "sample:1", "--reference", "sample:7")).mask
    np.testing.assert_array_equal(from_file, from_sample)


@pytest.mark.parametrize("name, missing", [("swap-mouth", "l_lip"), ("swap-eyes", "l_eye"),
                                           ("swap-brows", "r_brow"), ("swap-nose", "nose")])
def test_swap_with_a_reference_lacking_the_part_is_a_label_error(ctx, tmp_path, name, missing):
    labels = ctx.portrait("sample:2").labels.copy()
    for piece in SWAPS[name][0]:
        labels[np.isin(labels, ids(*piece))] = M11.index("skin")
    path = tmp_path / "faceless.mask.png"
    write_label_map(path, labels, M11)
    with pytest.raises(LabelError, match=f"reference mask has no .*{missing}"):
        prepare(ctx, name, "sample:0", "--reference", str(path))


def test_swap_needs_a_reference():
    with pytest.raises(click.MissingParameter, match="reference"):
        options(get_operation("swap-nose"))


# -- edit-mask -----------------------------------------------------------------------------------


def test_edit_mask_returns_the_other_mask(ctx, tmp_path):
    target = ctx.portrait("sample:0")
    req = one(prepare(ctx, "edit-mask", "sample:0", "--new-mask", "sample:5"))
    assert req.target is target and req.styles == {}
    np.testing.assert_array_equal(req.mask, ctx.portrait("sample:5").labels)
    painted = target.labels.copy()
    painted[:40] = M11.index("hair")
    path = tmp_path / "painted.mask.png"
    write_label_map(path, painted, M11)
    req = one(prepare(ctx, "edit-mask", "sample:0", "--new-mask", str(path)))
    np.testing.assert_array_equal(req.mask, painted)


def test_edit_mask_of_another_size_is_scaled_or_refused_by_aspect_ratio(ctx, tmp_path):
    """Half the size, same aspect ratio: scaled to the photo (nearest). Another aspect ratio:
    a LabelError naming both sizes."""
    other = ctx.portrait("sample:5").labels
    path = tmp_path / "small.mask.png"
    write_label_map(path, other[::2, ::2], M11)
    req = one(prepare(ctx, "edit-mask", "sample:0", "--new-mask", str(path)))
    assert req.mask.shape == (256, 256)
    np.testing.assert_array_equal(req.mask[::2, ::2], other[::2, ::2])
    write_label_map(path, other[:, :200], M11)
    with pytest.raises(LabelError, match="--new-mask .* is 200x256 but the image is 256x256: "
                                         "their aspect ratios differ"):
        prepare(ctx, "edit-mask", "sample:0", "--new-mask", str(path))


def test_edit_mask_takes_a_region_from_another_photo(ctx):
    """A bald photo (sample:4) given a mask with hair: --region hair=SRC gives the hair that
    source's style (the photo has none to keep); every other component stays the photo's."""
    req = one(prepare(ctx, "edit-mask", "sample:4", "--new-mask", "sample:5",
                      "--region", "hair=sample:5", "--region", "lips=sample:1"))
    assert set(req.styles) == {"hair", "mouth"}
    assert req.styles["hair"] is ctx.portrait("sample:5")
    assert req.styles["mouth"] is ctx.portrait("sample:1")
    np.testing.assert_array_equal(req.mask, ctx.portrait("sample:5").labels)
    with pytest.raises(UsageError, match="--region expects REGION=SRC, got 'hair'"):
        prepare(ctx, "edit-mask", "sample:4", "--new-mask", "sample:5", "--region", "hair")
    with pytest.raises(click.UsageError, match="unknown region"):
        prepare(ctx, "edit-mask", "sample:4", "--new-mask", "sample:5", "--region", "ears=sample:1")


# -- mask-to-face ----------------------------------------------------------------------------------


def test_mask_to_face_one_request_per_style_source(ctx):
    requests = prepare(ctx, "mask-to-face", "sample:2", "--styles", "sample:0",
                       "--styles", "sample:6")
    assert len(requests) == 2
    layout = ctx.portrait("sample:2")
    for req, source in zip(requests, ("sample:0", "sample:6"), strict=True):
        np.testing.assert_array_equal(req.mask, layout.labels)
        np.testing.assert_array_equal(req.target.labels, layout.labels)
        np.testing.assert_array_equal(req.target.image, layout.image)  # sample:N's background
        assert not req.canvas  # its own photo shows the face its mask describes
        assert set(req.styles) == COMPONENTS
        assert {p.name for p in req.styles.values()} == {source}
    assert requests[0].target is requests[1].target  # one canvas for every face


def test_mask_to_face_samples_means_every_sample(ctx):
    from mgpe_core.samples import sample_count

    requests = prepare(ctx, "mask-to-face", "sample:2", "--styles", "samples")
    assert [r.styles["hair"].name for r in requests] == [f"sample:{i}"
                                                         for i in range(sample_count())]
    assert all(np.array_equal(r.mask, requests[0].mask) for r in requests)


def test_mask_to_face_from_a_mask_file_with_and_without_background(ctx, tmp_path):
    layout = ctx.portrait("sample:2").labels
    path = tmp_path / "face.mask.png"
    write_label_map(path, layout, M11)
    req = one(prepare(ctx, "mask-to-face", str(path), "--styles", "sample:1"))
    np.testing.assert_array_equal(req.mask, layout)
    assert (req.target.image == 128).all()  # a neutral grey background
    assert req.canvas  # no face to read the target's parts from
    bg = np.zeros((64, 64, 3), np.uint8)
    bg[:, :, 2] = 200
    write_image(tmp_path / "bg.png", bg)
    req = one(prepare(ctx, "mask-to-face", str(path), "--styles", "sample:1",
                      "--background", str(tmp_path / "bg.png")))
    assert req.target.image.shape == (256, 256, 3)  # resized to the mask
    assert (req.target.image == [0, 0, 200]).all()
    np.testing.assert_array_equal(req.mask, layout)
    assert req.canvas


def test_mask_to_face_needs_styles():
    with pytest.raises(click.MissingParameter, match="styles"):
        options(get_operation("mask-to-face"))


def test_mask_to_face_with_an_empty_style_folder_is_a_usage_error(ctx, tmp_path):
    with pytest.raises(UsageError, match="no photos in folder"):
        prepare(ctx, "mask-to-face", "sample:2", "--styles", str(tmp_path))


# -- style -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("regions, components", [
    ("hair", {"hair"}),
    ("hair,eyes", {"hair", "l_eye", "r_eye"}),
    ("lips", {"mouth"}),
    ("mouth,beard", {"mouth", "skin"}),
    ("skin", {"skin"}),
])
def test_style_regions_map_to_components_of_the_source(ctx, regions, components):
    target = ctx.portrait("sample:0")
    req = one(prepare(ctx, "style", "sample:0", "--from", "sample:5", "--regions", regions))
    assert req.target is target and req.mask is None  # the layout stays the photo's
    assert set(req.styles) == components
    assert all(p is ctx.portrait("sample:5") for p in req.styles.values())


def test_style_default_region_is_hair(ctx):
    req = one(prepare(ctx, "style", "sample:0", "--from", "sample:5"))
    assert set(req.styles) == {"hair"}


def test_style_per_region_sources(ctx):
    req = one(prepare(ctx, "style", "sample:0", "--region", "hair=sample:1",
                      "--region", "eyes=sample:2"))
    assert {c: p.name for c, p in req.styles.items()} == {
        "hair": "sample:1", "l_eye": "sample:2", "r_eye": "sample:2"}
    req = one(prepare(ctx, "style", "sample:0", "--from", "sample:1", "--regions", "hair,lips",
                      "--region", "lips=sample:2"))
    assert {c: p.name for c, p in req.styles.items()} == {"hair": "sample:1",
                                                         "mouth": "sample:2"}


@pytest.mark.parametrize("args, error, message", [
    ((), UsageError, "style needs --from SRC"),
    (("--regions", "hair,eyes"), UsageError, "style needs --from SRC"),
    (("--region", "hair"), UsageError, "--region expects REGION=SRC, got 'hair'"),
    (("--region", "hair="), UsageError, "--region expects REGION=SRC"),
    # click.BadParameter: a usage error too (exit code 2), raised by the operation's own check
    (("--from", "sample:1", "--regions", "hair,nose"), click.UsageError,
     r"unknown region\(s\) \['nose'\]"),
    (("--region", "ears=sample:1"), click.UsageError, "unknown region"),
])
def test_style_bad_options(ctx, args, error, message):
    with pytest.raises(error, match=message):
        prepare(ctx, "style", "sample:0", *args)


# -- bangs -----------------------------------------------------------------------------------------


def brow_top(labels) -> int:
    return box(labels, ("l_brow", "r_brow"))[0]


def hair_on_forehead(labels) -> int:
    """Hair pixels in the 12 rows above the brows, between the brows' outer edges."""
    y0, _, x0, x1 = box(labels, ("l_brow", "r_brow"))
    return int((labels[y0 - 12:y0, x0:x1 + 1] == M11.index("hair")).sum())


@pytest.mark.parametrize("target", SAMPLES_WITHOUT_BANGS)
def test_bangs_add_turns_forehead_skin_into_hair(ctx, target):
    old = ctx.portrait(target).labels
    req = one(prepare(ctx, "bangs", target, "--mode", "add"))
    assert req.styles == {} and req.target is ctx.portrait(target)  # hair: the photo's own
    assert transitions(old, req.mask) == {("skin", "hair")}
    changed = old != req.mask
    assert np.flatnonzero(changed.any(1)).max() < brow_top(old)  # only above the brows
    _, _, x0, x1 = box(old, ("l_brow", "r_brow"))
    cols = np.flatnonzero(changed.any(0))
    assert cols.min() < (x0 + x1) // 2 < cols.max()  # a fringe across the forehead ...
    assert x0 - 20 <= cols.min() and cols.max() <= x1 + 20  # ... about the brows' span


def test_bangs_depth_sets_how_far_down_the_fringe_reaches(ctx):
    old = ctx.portrait("sample:0").labels

    def fringe(depth):
        new = one(prepare(ctx, "bangs", "sample:0", "--mode", "add", "--depth", depth)).mask
        return new != old

    default, shallow, deep = fringe("0.6"), fringe("0.2"), fringe("1.0")
    np.testing.assert_array_equal(default, fringe("0.6"))  # deterministic
    assert shallow.sum() < default.sum() < deep.sum()
    assert (shallow <= default).all() and (default <= deep).all()  # the same fringe, longer
    assert np.flatnonzero(deep.any(1)).max() == brow_top(old) - 1  # down to the brows


def test_bangs_add_from_a_reference(ctx):
    old = ctx.portrait("sample:0").labels
    drawn = one(prepare(ctx, "bangs", "sample:0", "--mode", "add")).mask
    copied = one(prepare(ctx, "bangs", "sample:0", "--mode", "add",
                         "--reference", SAMPLE_WITH_BANGS)).mask
    assert transitions(old, copied) == {("skin", "hair")}
    assert np.flatnonzero((old != copied).any(1)).max() < brow_top(old)
    assert not np.array_equal(copied, drawn)  # the reference's fringe, not the drawn one
    # a reference without bangs (sample:4 is bald): the drawn fringe
    fallback = one(prepare(ctx, "bangs", "sample:0", "--mode", "add",
                           "--reference", "sample:4")).mask
    np.testing.assert_array_equal(fallback, drawn)


def test_bangs_remove_turns_forehead_hair_into_skin(ctx):
    old = ctx.portrait(SAMPLE_WITH_BANGS).labels
    assert hair_on_forehead(old) > 0
    req = one(prepare(ctx, "bangs", SAMPLE_WITH_BANGS, "--mode", "remove"))
    assert req.styles == {}
    assert transitions(old, req.mask) == {("hair", "skin")}
    assert np.flatnonzero((old != req.mask).any(1)).max() < brow_top(old)
    # the middle of the forehead is bare; the arched hairline keeps the temples' hair
    y0, _, x0, x1 = box(old, ("l_brow", "r_brow"))
    quarter = (x1 - x0) // 4
    assert (req.mask[y0 - 12:y0, x0 + quarter:x1 - quarter + 1] == M11.index("hair")).sum() == 0
    assert hair_on_forehead(req.mask) < 0.1 * hair_on_forehead(old)
    assert (req.mask == M11.index("hair")).sum() > 0.5 * (old == M11.index("hair")).sum()
    # removing twice: nothing left to do, and the operation says so
    with pytest.raises(NothingToDo, match="no bangs to remove in removed: hair covers 0% of "
                                          "its forehead"):
        get_operation("bangs").prepare(
            ctx, type(req.target)(req.target.image, req.mask, "removed"),
            **options(get_operation("bangs"), "--mode", "remove"))


def test_bangs_remove_without_bangs_has_nothing_to_do(ctx):
    """A bare forehead: no hairline carved, a message instead (the CLI writes nothing)."""
    for target in SAMPLES_WITHOUT_BANGS:
        with pytest.raises(NothingToDo, match=f"no bangs to remove in {target}: hair covers "
                                              r"\d+% of its forehead \(bangs cover at least "
                                              r"35%\)"):
            prepare(ctx, "bangs", target, "--mode", "remove")


@pytest.mark.parametrize("args, error, message", [
    (("--mode", "remove", "--reference", "sample:3"), UsageError,
     "--reference goes with --mode add"),
    ((), click.MissingParameter, "mode"),
    (("--mode", "trim"), click.BadParameter, "'trim' is not one of 'add', 'remove'"),
    (("--mode", "add", "--depth", "0"), click.BadParameter, "0.1<=x<=1.0"),
])
def test_bangs_bad_options(ctx, args, error, message):
    with pytest.raises(error, match=message):
        prepare(ctx, "bangs", "sample:0", *args)


def test_bangs_on_a_mask_without_brows_or_eyes_is_a_label_error(ctx, tmp_path):
    labels = ctx.portrait("sample:0").labels.copy()
    labels[np.isin(labels, ids("l_brow", "r_brow", "l_eye", "r_eye"))] = M11.index("skin")
    path = tmp_path / "blank.mask.png"
    write_label_map(path, labels, M11)
    target = ctx.portrait("sample:0", mask=path)
    op = get_operation("bangs")
    with pytest.raises(LabelError, match="neither eyebrows nor eyes"):
        op.prepare(ctx, target, **options(op, "--mode", "add"))
