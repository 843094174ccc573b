"""Adapters: the only code that imports vendor libraries."""
