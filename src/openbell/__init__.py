"""openbell: autonomous opening-bell day trading for US equities at Interactive Brokers."""

from functools import cache


@cache
def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - see below

    try:
        return version("openbell")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


def __getattr__(name: str) -> str:
    # Looked up on first use: reading package metadata costs ~40 ms, which every process
    # (CLI, bots, benchmarks) would otherwise pay at import.
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module 'openbell' has no attribute {name!r}")
