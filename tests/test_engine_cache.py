"""The Editor's embedding cache (``Editor(..., embedding_cache=N)``): outputs equal the uncached
ones, only the mask-dependent part re-runs for a new mask, and the cache stays bounded."""

import numpy as np
import pytest

from mgpe_core.engine import Editor, EditRequest, Portrait
from mgpe_core.labels import convert, get_schema
from mgpe_core.registry import load_model
from mgpe_core.samples import load_sample

C19, M11 = get_schema("celebamask-19"), get_schema("mgpe-11")


def sample(i):
    img, lab = load_sample(i)
    return Portrait(img, convert(lab, C19, M11), f"sample:{i}")


@pytest.fixture(scope="module")
def model():
    return load_model("mgpe-synth-128")


@pytest.fixture(scope="module")
def editors(model):
    return Editor(model), Editor(model, embedding_cache=4)


def _requests():
    a, b, c = sample(0), sample(5), sample(7)
    painted = a.labels.copy()
    painted[150:170, 100:140] = M11.index("hair")
    return [EditRequest(a, styles={"hair": b}),
            EditRequest(a, mask=painted, styles={"mouth": c, "skin": b}),
            EditRequest(b, keep_unedited=False)]


def test_cached_outputs_equal_uncached(editors):
    plain, cached = editors
    want = plain.edit(_requests(), paste_back=True)
    for _ in range(2):  # first fills the cache, second reads it
        got = cached.edit(_requests(), paste_back=True)
        for x, y in zip(want, got, strict=True):
            assert np.abs(x.model_image.astype(int) - y.model_image.astype(int)).max() <= 1
            assert np.abs(x.image.astype(int) - y.image.astype(int)).max() <= 1
            assert np.array_equal(x.mask, y.mask)


def test_a_new_mask_encodes_nothing_again(model, monkeypatch):
    editor = Editor(model, embedding_cache=8)
    a, b = sample(1), sample(2)
    calls = {"encode": 0, "decode": 0}
    gen = editor.generator
    for name in calls:
        real = getattr(gen, name)

        def counted(*args, _real=real, _name=name, **kw):
            calls[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(gen, name, counted)
    editor.edit([EditRequest(a, styles={"hair": b})])
    assert calls == {"encode": 1, "decode": 1}
    for k in range(3):  # brush strokes: another mask each time
        painted = a.labels.copy()
        painted[100 + 5 * k:110 + 5 * k, 100:120] = M11.index("skin")
        editor.edit([EditRequest(a, mask=painted, styles={"hair": b})])
    assert calls == {"encode": 1, "decode": 1}
    # an edited photo is another portrait: encoded anew (keyed by content, never stale)
    changed = Portrait(a.image.copy(), a.labels, "changed")
    changed.image[0, 0] ^= 255
    editor.edit([EditRequest(changed, styles={"hair": b})])
    assert calls == {"encode": 2, "decode": 2}


def test_the_cache_is_bounded(model):
    editor = Editor(model, embedding_cache=2)
    for i in range(5):
        editor.edit([EditRequest(sample(i), styles={"hair": sample(i + 1)})])
    cache = editor.cache
    assert len(cache.prepared) <= 2 and len(cache.mus) <= 2 and len(cache.feats) <= 2
    assert 0 < len(cache.parts) <= 2


@pytest.mark.parametrize("calibrated", [True, False])
def test_a_style_source_and_target_are_re_rendered_once(model, monkeypatch, calibrated):
    """Style matching re-renders each style source unchanged to read its colour errors, and
    the target too for a calibrated model (the built-in one): one more synthesis row each on
    the first edit with them, none on the next."""
    editor = Editor(model, embedding_cache=8, style_weights=None if calibrated else {})
    assert bool(editor.style_weights) == calibrated
    a, b = sample(1), sample(2)
    rows = []
    real = editor.generator.synthesize

    def counted(feats, target, labels, **kw):
        rows.append(target.shape[0])
        return real(feats, target, labels, **kw)

    monkeypatch.setattr(editor.generator, "synthesize", counted)
    first = editor.edit([EditRequest(a, styles={"mouth": b})])[0]
    again = editor.edit([EditRequest(a, styles={"mouth": b})])[0]
    plain = editor.edit([EditRequest(a, styles={"mouth": b}, match_style=False)])[0]
    assert rows == [3 if calibrated else 2, 1, 1]
    assert np.array_equal(first.image, again.image)
    assert not np.array_equal(first.image, plain.image)


def test_off_by_default_and_validated(model):
    from mgpe_core.errors import UsageError

    assert Editor(model).cache is None
    with pytest.raises(UsageError):
        Editor(model, embedding_cache=-1)
