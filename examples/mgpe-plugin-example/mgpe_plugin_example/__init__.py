"""An example mgpe plugin: adds the ``flip-mask`` edit operation (see ``plugin.py``)."""

__version__ = "0.1.0"
