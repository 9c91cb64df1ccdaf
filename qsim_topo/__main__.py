"""``python -m qsim_topo`` runs the ``qsim-topo`` command."""

import sys

from qsim_topo.cli.main import main

sys.exit(main())
