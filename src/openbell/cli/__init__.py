"""The ``openbell`` command line."""

from openbell.cli.common import EXIT_ALERT, EXIT_REFUSED, EXIT_RETRY
from openbell.cli.main import app, main

__all__ = ["EXIT_ALERT", "EXIT_REFUSED", "EXIT_RETRY", "app", "main"]
