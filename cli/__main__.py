"""``python -m mgpe_cli`` runs the same CLI as the ``mgpe`` script."""

import sys

from .main import main

sys.exit(main())
