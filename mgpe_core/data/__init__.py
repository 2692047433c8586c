"""Data: CelebAMask-HQ preparation, the prepared-folder format, the torch dataset, augmentation.

Submodules are imported where used; ``prepared`` needs no torch, ``dataset`` and ``augment`` do.
"""
