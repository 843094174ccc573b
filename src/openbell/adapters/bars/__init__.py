"""Bars on disk: the Parquet :class:`BarStore` and the importers that fill it from vendor files."""

from openbell.adapters.bars.importers import BadBarFile, ImportReport, SkippedFile, import_path
from openbell.adapters.bars.store import BarStore, BasisMismatch, InventoryRow, UnreadableBarFile

__all__ = [
    "BadBarFile",
    "BarStore",
    "BasisMismatch",
    "ImportReport",
    "InventoryRow",
    "SkippedFile",
    "UnreadableBarFile",
    "import_path",
]
