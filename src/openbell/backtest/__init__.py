"""The backtester: the live services, driven over stored bars by a manual clock."""
