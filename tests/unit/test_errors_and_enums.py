import pytest

from openbell.domain import errors
from openbell.domain.enums import OrderRole


def test_every_error_belongs_to_exactly_one_family() -> None:
    families = (errors.RefusedInput, errors.RetryLater, errors.StopAndAlert)
    leaves = [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, errors.OpenbellError)
        and value not in (errors.OpenbellError, *families)
    ]
    assert leaves
    for leaf in leaves:
        assert sum(issubclass(leaf, family) for family in families) == 1, leaf


def test_config_error_lists_every_problem_with_key_expected_found() -> None:
    one = errors.ConfigError([("ledger.path", "a file", "a directory")])
    assert (
        str(one) == "settings has 1 problem:\n  - ledger.path: expected a file, found a directory"
    )
    two = errors.ConfigError([("a", "x", "y"), ("b", "x", "z")], source="openbell.toml")
    assert str(two).startswith("openbell.toml has 2 problems:")
    assert two.problems == [("a", "x", "y"), ("b", "x", "z")]


def test_protected_symbol_error_says_why() -> None:
    exc = errors.ProtectedSymbol("SKYX", "exit")
    assert exc.symbol == "SKYX"
    assert "protection.protected_symbols" in str(exc)


def test_invalid_value_keeps_its_parts() -> None:
    exc = errors.InvalidValue("price", "a price above 0", -1)
    assert (exc.what, exc.expected, exc.found) == ("price", "a price above 0", -1)
    with pytest.raises(ValueError, match="found -1"):
        raise exc


def test_exit_roles() -> None:
    assert [role for role in OrderRole if role.is_exit] == [
        OrderRole.TARGET,
        OrderRole.STOP,
        OrderRole.FLATTEN,
    ]
