"""``python -m openbell`` runs the same command line as ``openbell``."""

from openbell.cli import main

main()
