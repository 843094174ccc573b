"""The web dashboard: ``openbell dashboard`` (see :mod:`openbell.web.app`)."""
