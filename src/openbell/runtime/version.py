"""Which code a process runs: the package version, the git commit, and a hash of the sources.

The brief lost a trading day to bytecode that no longer matched its source. Two defences:

* every process records :func:`running_code` (computed once, when it starts) in its
  heartbeat, and the supervisor compares it with :func:`installed_code` (read from disk now),
  so a child running older code than the files on disk is reported and restarted;
* the supervisor starts its children with a bytecode cache keyed by the source hash
  (:func:`bytecode_dir`), so a ``.pyc`` written for other sources can never be loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import openbell
from openbell import __version__

_HASH_CHARS = 12
_GIT_SEARCH_DEPTH = 4


@dataclass(frozen=True, slots=True)
class CodeVersion:
    """``0.5.0+g1a2b3c4d5e6f.src9f8e7d6c5b4a``: version, commit (if a checkout), source hash."""

    package: str
    commit: str | None
    source_hash: str

    def __str__(self) -> str:
        commit = f"g{self.commit}." if self.commit else ""
        return f"{self.package}+{commit}src{self.source_hash}"


def package_dir() -> Path:
    """Where the ``openbell`` package's sources are installed."""
    return Path(openbell.__file__).resolve().parent


def source_hash(root: Path) -> str:
    """A hash of every ``.py`` file under ``root``: names and bytes, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:_HASH_CHARS]


def git_commit(start: Path) -> str | None:
    """The commit checked out in the git work tree holding ``start``, if there is one."""
    for folder in [start, *start.parents][:_GIT_SEARCH_DEPTH]:
        git = folder / ".git"
        if git.is_dir():
            return _head_commit(git)
    return None


def _head_commit(git: Path) -> str | None:
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head[:_HASH_CHARS] or None
        ref = head.removeprefix("ref: ")
        loose = git / ref
        if loose.is_file():
            return loose.read_text(encoding="utf-8").strip()[:_HASH_CHARS] or None
        packed = git / "packed-refs"
        for line in packed.read_text(encoding="utf-8").splitlines():
            commit, _, name = line.partition(" ")
            if name == ref:
                return commit[:_HASH_CHARS]
    except OSError:
        return None
    return None


def installed_code() -> CodeVersion:
    """The code on disk now (read afresh on every call)."""
    root = package_dir()
    return CodeVersion(__version__, git_commit(root), source_hash(root))


@cache
def running_code() -> CodeVersion:
    """The code this process started with (computed on the first call, at start-up)."""
    return installed_code()


def bytecode_dir(root: Path, code: CodeVersion) -> Path:
    """A bytecode cache only these sources use (``PYTHONPYCACHEPREFIX`` of the children)."""
    return root / code.source_hash
