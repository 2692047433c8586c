"""Evaluation metrics (FID with the standard 2015-12-05 Inception network).

Importing this package is cheap: ``fid`` needs only numpy at import time, ``inception`` imports
torch; import the submodule you need.
"""
