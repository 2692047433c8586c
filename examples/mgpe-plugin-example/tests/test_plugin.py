"""Unit tests of the example plugin: no model, no torch, no CLI.

Run from this folder with the plugin installed (``pip install -e .``): ``pytest tests``.
"""

import click
import numpy as np
from mgpe_core.engine import Portrait
from mgpe_core.labels import get_schema
from mgpe_core.operations import OpContext

from mgpe_plugin_example import plugin


def registered_operations():
    ops = []
    plugin.register_operations(ops.append)  # the hook, called with a list-appending callback
    return ops


def test_registers_one_operation():
    (op,) = registered_operations()
    assert op.name == "flip-mask"
    assert op.summary
    assert op.example.startswith("mgpe edit flip-mask ")
    assert [p.name for p in op.options()] == ["mirror_styles"]
    assert all(isinstance(p, click.Option) for p in op.options())


def test_prepare_mirrors_the_mask():
    (op,) = registered_operations()
    schema = get_schema("mgpe-11")
    labels = np.zeros((8, 8), np.uint8)
    labels[2, 1] = schema.classes.index("l_eye")  # image-left eye
    target = Portrait(np.zeros((8, 8, 3), np.uint8), labels, "t")
    ctx = OpContext(schema)

    (req,) = op.prepare(ctx, target, mirror_styles=False)
    assert req.target is target and req.styles == {}
    assert req.mask[2, 6] == schema.classes.index("r_eye")  # mirrored, and now the right eye
    assert (req.mask != 0).sum() == 1

    (req,) = op.prepare(ctx, target, mirror_styles=True)
    mirrored = req.styles["hair"]
    assert all(p is mirrored for p in req.styles.values())
    np.testing.assert_array_equal(mirrored.labels, req.mask)


def test_declares_evaluation_and_demo():
    """`mgpe eval --ops flip-mask` and `mgpe demo` run these declarations; their options must
    parse with the operation's own options, as `mgpe edit` would parse them."""
    from mgpe_core.operations import parse_options

    (op,) = registered_operations()
    labels = [case.label for case in op.eval_cases()]
    assert labels == ["flip-mask", "flip-mask-mirror-styles"]
    assert not any(case.benchmark for case in op.eval_cases())  # default figures unchanged
    assert [parse_options(op, case.args) for case in op.eval_cases()] == [
        {"mirror_styles": False}, {"mirror_styles": True}]
    (demo,) = op.demo_cases()
    assert demo.figure == "component_edits" and demo.target.startswith("sample:")
