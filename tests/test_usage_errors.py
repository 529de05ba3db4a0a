"""A wrong command line gets the usage line, never the arguments echoed back (issue 14)."""

from __future__ import annotations

import pytest

import commands.escalation.commands  # declares !ticket
import commands.general.commands  # declares !help and !ping
from bot.registry import Registry, UsageError, tokenize, without_values

KEY = "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"ping {KEY}", "b3BlbnNzaC1rZXktdjE"),
        (f"ping {KEY}", "BEGIN OPENSSH"),
        (f"ticket P2 -H 'Authorization: Bearer {JWT}' x", JWT),
        (f"ticket --requestor={JWT} --bogus={JWT}", JWT),
        (f"help --token {JWT}", JWT),
    ],
)
def test_usage_error_does_not_echo(line: str, secret: str) -> None:
    registry = Registry()
    registry.include(commands.general.commands)
    registry.include(commands.escalation.commands)
    cmd, rest = registry.find(tokenize(line))
    assert cmd is not None
    with pytest.raises(UsageError) as err:
        cmd.parse(rest)
    assert secret not in str(err.value)
    assert "unexpected argument" in str(err.value)


@pytest.mark.parametrize(
    ("message", "clean"),
    [
        ("unrecognized arguments: -----BEGIN X Y", "3 unexpected arguments"),
        ("argument n: invalid int value: 'Secret1'", "argument n: invalid int value"),
        (
            "argument --m: invalid choice: \"it's\" (choose from 'a', 'b')",
            "argument --m: invalid choice (choose from 'a', 'b')",
        ),
        (
            "ambiguous option: --tok=Secret1 could match --token, --toks",
            "ambiguous option could match --token, --toks",
        ),
        (
            "the following arguments are required: user",
            "the following arguments are required: user",
        ),
    ],
)
def test_without_values(message: str, clean: str) -> None:
    assert without_values(message) == clean


def test_handler_usage_errors_do_not_echo() -> None:
    """Handlers' own checks name what was wrong, not the value typed."""
    from types import SimpleNamespace

    from commands.moderation.commands import parse_duration, target_of

    ctx = SimpleNamespace(event=SimpleNamespace(content={}, body=JWT, is_edit=False))
    for check in (lambda: parse_duration(JWT), lambda: target_of(ctx, JWT)):  # type: ignore[arg-type]
        with pytest.raises(UsageError) as err:
            check()
        assert JWT not in str(err.value)
