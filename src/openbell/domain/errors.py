"""One exception hierarchy, named by what the caller should do.

Every openbell error derives from :class:`OpenbellError` and from exactly one of three
families, so a caller decides by family, never by message:

* :class:`RefusedInput` - the input is wrong; change it and try again. Nothing was changed.
* :class:`RetryLater` - a transient condition (a busy database, a dropped socket); the same
  call may succeed later.
* :class:`StopAndAlert` - continuing could cost money (a corrupt ledger, a schema from a newer
  openbell, broken invariants); stop acting and tell a human.

Messages say what was expected and what was found.
"""

from __future__ import annotations


class OpenbellError(Exception):
    """The root of every error openbell raises on purpose."""


class RefusedInput(OpenbellError):
    """Refuse the input: it is invalid or not allowed. Nothing was changed."""


class RetryLater(OpenbellError):
    """A transient failure: the same call may succeed if tried again later."""


class StopAndAlert(OpenbellError):
    """Continuing could lose money or records: stop acting and alert a human."""


# --- refusals ---------------------------------------------------------------------------


class InvalidValue(RefusedInput, ValueError):
    """A value failed validation on construction."""

    def __init__(self, what: str, expected: str, found: object) -> None:
        self.what = what
        self.expected = expected
        self.found = found
        super().__init__(f"{what}: expected {expected}, found {found!r}")


class IllegalTransition(RefusedInput):
    """A lifecycle was asked to take a step its transition table does not allow."""

    def __init__(self, entity: str, state: str, event: str, allowed: tuple[str, ...]) -> None:
        self.state = state
        self.event = event
        shown = ", ".join(allowed) if allowed else "none (terminal state)"
        super().__init__(
            f"{entity} in state {state} cannot take event {event}; allowed events: {shown}"
        )


class ProtectedSymbol(RefusedInput):
    """The symbol is in ``protected_symbols``: openbell never opens, adopts or exits it."""

    def __init__(self, symbol: str, action: str) -> None:
        self.symbol = symbol
        super().__init__(
            f"refusing to {action} {symbol}: it is in protection.protected_symbols, "
            "so openbell never trades it"
        )


class NotFound(RefusedInput):
    """The thing asked for does not exist (no such position, order or session)."""


class Conflict(RefusedInput):
    """The request contradicts what is already recorded (e.g. a second live position)."""


class MissingSecret(RefusedInput):
    """A service needs a key the settings do not have; names the variable to set."""

    def __init__(self, service: str, variable: str) -> None:
        self.variable = variable
        super().__init__(
            f"{service} needs an API key: expected {variable} in the environment or .env, "
            "found none"
        )


class Oversell(RefusedInput):
    """An exit would sell more shares than the ledger holds for the position."""


class NotATradingDay(RefusedInput):
    """The exchange has no session on the requested day."""


class ConfigError(RefusedInput):
    """Settings are invalid. ``problems`` lists every one as (key, expected, found)."""

    def __init__(self, problems: list[tuple[str, str, str]], source: str = "settings") -> None:
        self.problems = problems
        lines = [
            f"  - {key}: expected {expected}, found {found}" for key, expected, found in problems
        ]
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source} has {count} {noun}:\n" + "\n".join(lines))


# --- transient ----------------------------------------------------------------------------


class LedgerBusy(RetryLater):
    """The ledger stayed locked by another process for longer than the busy timeout."""


class BrokerUnavailable(RetryLater):
    """The broker connection is down or not yet reconciled; nothing was sent."""


class MarketDataUnavailable(RetryLater):
    """A market data provider gave no usable answer: down, rate limited past the retries,
    timed out, a key missing or refused, or a response that is not what its documentation
    describes. The message names the provider and the endpoint, never the key."""

    def __init__(self, provider: str, what: str, reason: str) -> None:
        self.provider = provider
        self.what = what
        self.reason = reason
        super().__init__(f"{provider} {what}: {reason}")


# --- stop and alert -------------------------------------------------------------------------


class LedgerCorrupt(StopAndAlert):
    """The ledger file is not a readable openbell ledger."""


class LedgerSchemaTooNew(StopAndAlert):
    """The ledger was written by a newer openbell; this code must not touch it."""


class InvariantBroken(StopAndAlert):
    """A fact that must always hold does not; acting further would be guessing."""


class LedgerUnavailable(StopAndAlert):
    """The ledger file cannot be opened or written (permissions, a directory, a full disk)."""
