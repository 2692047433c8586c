"""A component the donor lacks (hair on a bald photo) takes the style of a sample the model
names (config.json ``default_styles``): the rule, the engine's use of it, its validation and
how the packager picks the samples."""

import numpy as np
import pytest
from conftest import make_model

from mgpe_core.components import COMPONENT_NAMES
from mgpe_core.default_styles import (
    lacks,
    model_default_styles,
    pick_default_styles,
    with_default_styles,
)
from mgpe_core.engine import Editor, EditRequest, Portrait
from mgpe_core.registry import ModelError, load_model
from mgpe_core.samples import sample_count, sample_portrait


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return load_model(make_model(root, "styled", default_styles={"hair": "sample:5"}))


def bald(portrait: Portrait, schema) -> Portrait:
    """``portrait`` with its hair labelled background (its pixels unchanged)."""
    labels = portrait.labels.copy()
    labels[np.isin(labels, schema.ids(["hair"]))] = 0
    return Portrait(portrait.image, labels, f"bald {portrait.name}")


def test_lacks_counts_a_few_stray_pixels_as_none(model):
    s = model.schema
    p = sample_portrait(0, s)
    assert not lacks(p.labels, "hair", s)
    stray = bald(p, s).labels
    stray[:2, :2] = s.ids(["hair"])[0]  # 4 parser-noise pixels of hair on a bald head
    assert lacks(stray, "hair", s)
    assert lacks(bald(p, s).labels, "hair", s)


def test_the_rule_fills_only_a_component_the_donor_lacks_and_the_mask_has(model):
    s = model.schema
    with_hair, stand_in = sample_portrait(0, s), sample_portrait(5, s)
    no_hair = bald(with_hair, s)
    defaults = {"hair": stand_in}
    # a bald photo given hair by its edited mask: the stand-in's hair style
    got = with_default_styles(EditRequest(no_hair, mask=with_hair.labels), defaults, s)
    assert got.styles == {"hair": stand_in} and got.target is no_hair
    # a bald photo left bald, or a photo with hair: nothing changes (the same request)
    req = EditRequest(no_hair)
    assert with_default_styles(req, defaults, s) is req
    req = EditRequest(with_hair, mask=with_hair.labels)
    assert with_default_styles(req, defaults, s) is req
    # a named donor is the donor: bald donor -> stand-in; donor with hair -> kept
    other = sample_portrait(3, s)
    got = with_default_styles(EditRequest(with_hair, styles={"hair": no_hair, "mouth": other}),
                              defaults, s)
    assert got.styles == {"hair": stand_in, "mouth": other}
    req = EditRequest(no_hair, mask=with_hair.labels, styles={"hair": other})
    assert with_default_styles(req, defaults, s) is req
    assert with_default_styles(req, {}, s) is req


def test_the_editor_draws_a_bald_photos_new_hair_in_the_models_named_style(model):
    s = model.schema
    with_hair = sample_portrait(0, s)
    no_hair = bald(with_hair, s)
    editor = Editor(model, fast=False)
    assert set(editor.default_styles) == {"hair"}
    assert np.array_equal(editor.default_styles["hair"].image, sample_portrait(5, s).image)
    got = editor.edit([EditRequest(no_hair, mask=with_hair.labels)])[0]
    plain = Editor(model, fast=False, default_styles={})
    assert plain.default_styles == {}
    want = plain.edit([EditRequest(no_hair, mask=with_hair.labels,
                                   styles={"hair": sample_portrait(5, s)})])[0]
    before = plain.edit([EditRequest(no_hair, mask=with_hair.labels)])[0]
    assert np.array_equal(got.image, want.image)
    assert not np.array_equal(got.image, before.image)  # the empty window drew something else
    # generate() (the raw outputs, used by eval) follows the same rule
    assert np.allclose(editor.generate([EditRequest(no_hair, mask=with_hair.labels)]).numpy(),
                       plain.generate([EditRequest(no_hair, mask=with_hair.labels,
                                                   styles={"hair": sample_portrait(5, s)})])
                       .numpy(), atol=1e-6)
    # a photo given without a mask is parsed before its hair is looked for
    unparsed = Portrait(no_hair.image.copy(), None, "unparsed")
    editor.edit([EditRequest(unparsed, mask=with_hair.labels)])
    assert unparsed.labels is not None


@pytest.mark.parametrize("named, message", [
    ({"tail": "sample:1"}, "unknown component 'tail'"),
    ({"hair": "photo.png"}, "is not a built-in sample"),
    ({"hair": f"sample:{10**6}"}, "is not a built-in sample"),
])
def test_a_bad_default_style_is_a_model_error_naming_it(model, named, message):
    broken = type(model)(**{**model.__dict__, "meta": {**model.meta, "default_styles": named}})
    with pytest.raises(ModelError, match=message):
        model_default_styles(broken)
    with pytest.raises(ModelError, match=message):
        Editor(broken)


def test_a_sample_without_the_component_is_refused(model, monkeypatch):
    import mgpe_core.samples as samples

    real = samples.sample_portrait
    monkeypatch.setattr(samples, "sample_portrait",
                        lambda i, schema, name=None: bald(real(i, schema, name), schema))
    with pytest.raises(ModelError, match="sample:5' has no hair"):
        model_default_styles(model)


def test_config_json_with_the_wrong_type_is_refused_on_load(tmp_path):
    path = make_model(tmp_path, "wrong", default_styles="sample:5")
    with pytest.raises(ModelError, match="default_styles"):
        load_model(path)


def test_pick_default_styles_takes_the_sample_nearest_the_mean_latent(model):
    import torch

    picks = pick_default_styles(model)
    assert set(picks) == set(COMPONENT_NAMES)
    s = model.schema
    portraits = [sample_portrait(i, s) for i in range(sample_count())]
    editor = Editor(model, fast=False, default_styles={})
    have = [i for i, p in enumerate(portraits) if not lacks(p.labels, "hair", s)]
    squared = [editor._prepare(portraits[i], None) for i in have]
    x = torch.stack([torch.from_numpy(im).permute(2, 0, 1) for im, _, _ in squared])
    lab = torch.stack([torch.from_numpy(lb) for _, lb, _ in squared]).long()
    with torch.no_grad():
        mu = model.generator.encode(x.float() / 127.5 - 1, lab).mu["hair"].flatten(1)
    dist = (mu - mu.mean(0)).norm(dim=1)
    assert picks["hair"] == f"sample:{have[int(dist.argmin())]}"
    for comp, ref in picks.items():  # every pick has the component it stands in for
        assert not lacks(sample_portrait(int(ref.split(':')[1]), s).labels, comp, s)


@pytest.mark.parametrize("name", ["mgpe-synth-128", "mgpe-synth-128-eyemask"])
def test_the_builtin_models_name_a_stand_in_that_has_each_component(name):
    from conftest import builtin_schema

    from mgpe_core.registry import find_model, read_model_config

    named = read_model_config(find_model(name).path)["default_styles"]
    assert set(named) == set(COMPONENT_NAMES)
    schema = builtin_schema(name)
    for comp, ref in named.items():
        assert not lacks(sample_portrait(int(ref.split(":")[1]), schema).labels, comp, schema)
