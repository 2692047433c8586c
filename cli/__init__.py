"""The `mgpe` command line (installed as the import package ``mgpe_cli``).

Start-up must stay fast: nothing here imports torch; commands import heavy modules inside their
function bodies.
"""
