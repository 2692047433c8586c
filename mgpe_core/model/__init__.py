"""The MGPE networks (generator, discriminators, parser), their config and losses.

``config`` has no torch dependency; the network modules import torch.
"""
