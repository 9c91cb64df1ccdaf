"""Command-line interface (``qsim-topo``)."""
