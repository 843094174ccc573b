"""openbell: autonomous opening-bell day trading for US equities at Interactive Brokers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("openbell")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
