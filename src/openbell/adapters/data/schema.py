"""Reading a provider's JSON answers with pydantic, in their documented shapes.

Models ignore the fields openbell does not use, so an addition never breaks a scan. A field
openbell needs that is missing or of the wrong kind is a changed schema: the messages built
here name the documented field and what came instead, never a KeyError or a ValidationError.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from openbell.domain.errors import MarketDataUnavailable

_SHOWN_FIELDS = 12


class Model(BaseModel):
    """A documented answer, or a part of one: unknown fields ignored, frozen, no NaN."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


M = TypeVar("M", bound=Model)


def valid_entries(
    model: type[M],
    entries: Sequence[object],
    *,
    provider: str,
    what: str,
    noun: str,
    log: logging.Logger,
    prefix: Sequence[str | int] = (),
    strict: bool = False,
) -> list[M]:
    """``entries`` (the items of a JSON list found at ``prefix``) as ``model``, one by one.

    An entry that does not fit is a changed schema when ``strict`` (bars: a hole would bend
    the ATR) or when it is most entries: MarketDataUnavailable names the first problem and
    how many ``noun``s had one. Otherwise it is left out and logged on ``log``, so one odd
    ticker does not sink a scan.
    """
    good: list[M] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        try:
            good.append(model.model_validate(entry))
        except ValidationError as exc:
            problems.append(schema_problem(exc, (*prefix, index)))
    if problems and (strict or 2 * len(problems) > len(entries)):
        found = f"{len(problems)} of {len(entries)} {noun}s"
        raise MarketDataUnavailable(provider, what, f"{problems[0]} ({found})")
    for problem in problems:
        log.warning("%s %s: left out a %s: %s", provider, what, noun, problem)
    return good


def schema_problem(exc: ValidationError, prefix: Sequence[str | int] = ()) -> str:
    """What a validation error means: the documented field, and what came instead."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = field_path((*prefix, *first["loc"]))
    found = first.get("input")
    if first["type"] == "missing":
        text = f"expected a field {path}, found none (the object has: {_fields(found)})"
    else:
        text = f"expected {path}: {first['msg'].lower()}, found {short(found)}"
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def field_path(loc: Sequence[str | int]) -> str:
    """``("tickers", 3, "prevDay", "c")`` as ``tickers[3].prevDay.c``; ``(3, "symbol")`` as
    ``[3].symbol``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the response body"


def short(value: object) -> str:
    """``value``'s repr, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fields(found: Any) -> str:
    if not isinstance(found, Mapping):
        return "nothing"
    names = sorted(map(str, found))
    shown = ", ".join(names[:_SHOWN_FIELDS])
    return (shown + ", ...") if len(names) > _SHOWN_FIELDS else (shown or "no fields")
