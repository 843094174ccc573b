"""The SQLite position ledger."""
