"""Built-in sample portraits (``sample:N`` wherever an image is expected).

A dozen mgpe-synth faces at 256 px with their exact masks ship inside the package
(``sample_data/``; see ``samples.json`` for how they were made and their attributes), so every
operation can be tried without any data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:  # no numpy at import: operations (and so `mgpe --help`) name SAMPLE_SPEC
    import numpy as np

SAMPLE_DIR = Path(__file__).with_name("sample_data")

#: How a built-in sample is named wherever an image is expected: ``sample:N``.
SAMPLE_SPEC = re.compile(r"^sample:(\d+)$")


def sample_count() -> int:
    return len(list(SAMPLE_DIR.glob("sample-*.jpg")))


def sample_paths(index: int) -> tuple[Path, Path]:
    n = sample_count()
    if not 0 <= index < n:
        raise UsageError(f"sample:{index} does not exist: there are {n} samples "
                         f"(sample:0 to sample:{n - 1})")
    return SAMPLE_DIR / f"sample-{index:02d}.jpg", SAMPLE_DIR / f"sample-{index:02d}.mask.png"


def load_sample(index: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 image, celebamask-19 label map) of sample ``index``."""
    from .io import read_image, read_label_map

    image_path, mask_path = sample_paths(index)
    labels, _ = read_label_map(mask_path, "celebamask-19")
    return read_image(image_path), labels


def sample_portrait(index: int, schema, name: str | None = None):
    """Sample ``index`` as a :class:`~mgpe_core.engine.Portrait`, its labels converted to
    ``schema`` (by class name and handedness)."""
    from .engine import Portrait
    from .labels import convert, get_schema

    image, labels19 = load_sample(index)
    return Portrait(image, convert(labels19, get_schema("celebamask-19"), schema),
                    name or f"sample:{index}")
