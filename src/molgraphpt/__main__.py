"""``python -m molgraphpt`` (and ``torchrun -m molgraphpt``) runs the command-line interface."""

import sys

from molgraphpt.cli.main import main

sys.exit(main())
