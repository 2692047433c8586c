"""Training: the generator loop, the parser trainer, checkpoints of runs, torchrun support."""
