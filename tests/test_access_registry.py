"""The registry without Matrix: file validation (line and field named), round trips, checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import Store
from commands.access.formats import ImportProblems, parse_csv, parse_toml
from commands.access.models import Org, last_day, parse_until
from commands.access.service import MIGRATIONS, AccessService, RateLimiter, next_daily
from commands.access.settings import AccessSettings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def service(tmp_path: Path) -> AccessService:
    store = await Store.open(tmp_path / "s.sqlite3")
    await store.migrate("access", MIGRATIONS)
    return AccessService(store, AccessSettings(), lambda: NOW)


def test_csv_problems_name_line_and_field() -> None:
    text = (
        "id,name,products,contract_end,email_domains,homeservers,contacts\n"
        "ACME,Acme AB,SUPPORT-standard,,acme.example,matrix.acme.example,ops@acme.example\n"
        "BETA,Beta AB,SUPPORT-standard,2027-01-01,not a domain,,\n"
        "acme,Again,SUPPORT-premium,,,,\n"
    )
    with pytest.raises(ImportProblems) as caught:
        parse_csv(text)
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith("line 3, field email_domains") for p in problems), problems
    assert any(p.startswith("line 4, field id") and "line 2" in p for p in problems), problems


def test_csv_unknown_column_and_members_file() -> None:
    with pytest.raises(ImportProblems) as caught:
        parse_csv("id,name,tier\nACME,Acme,gold\n")
    assert str(caught.value.problems[0]) == "line 1, field tier: unknown column"
    members = parse_csv("user_id,org,email,expires,state\n@a:acme.example,acme,,2027-01-01,\n")
    record = members.members[0].record
    assert record.org == "ACME" and record.expires == datetime(2027, 1, 2, tzinfo=UTC)  # type: ignore[union-attr]


def test_toml_problems_point_at_the_key_line() -> None:
    text = '[[org]]\nid = "ACME"\nname = "Acme"\n\n[[member]]\nuser_id = "@x:acme.example"\norg = "ACME"\nstate = "requested"\ncolour = "red"\n'
    with pytest.raises(ImportProblems) as caught:
        parse_toml(text)
    problems = [str(p) for p in caught.value.problems]
    assert (
        "line 8, field state: requests cannot be imported; use granted, denied, revoked or expired"
        in problems
    )
    assert "line 9, field colour: unknown field" in problems
    with pytest.raises(ImportProblems) as caught:
        parse_toml('[[org]]\nid = "ACME"\nname = \n')
    assert caught.value.problems[0].line == 3


def test_dates_and_limits() -> None:
    assert parse_until("2030-01-01") == datetime(2030, 1, 2, tzinfo=UTC)
    assert last_day(parse_until("2030-01-01")) == date(2030, 1, 1)
    with pytest.raises(ValueError):
        parse_until("next week")
    assert next_daily(NOW, 3, 0) == datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    assert next_daily(NOW, 13, 0) == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    limiter = RateLimiter(2, 60)
    assert limiter.hit("a", 0) == 0 and limiter.hit("a", 1) == 0
    assert limiter.hit("a", 2) == pytest.approx(58)
    assert limiter.hit("a", 61) == 0  # the window moved on
    org = Org(id="x", name="X", products=["SUPPORT-premium"], contract_end=date(2026, 5, 31))
    assert org.lacks(["SUPPORT-standard", "SUPPORT-premium"], NOW.date()) == "contract_ended"
    assert org.lacks(["SUPPORT-standard"], date(2026, 1, 1)) == "no_tier"


async def test_import_is_all_or_nothing_and_round_trips(tmp_path: Path) -> None:
    svc = await service(tmp_path)
    good = (
        '[[org]]\nid = "ACME"\nname = "Acme AB"\nproducts = ["SUPPORT-standard"]\n'
        'homeservers = ["matrix.acme.example"]\nemail_domains = ["acme.example"]\n'
        "contract_end = 2027-12-31\n\n"
        '[[member]]\nuser_id = "@ann:matrix.acme.example"\norg = "ACME"\nexpires = 2026-12-31\n'
    )
    summary = await svc.import_text(good, "toml", "test")
    assert (summary.orgs_added, summary.members) == (1, 1)
    exported = await svc.export("toml")
    # A member of an organisation nobody knows: the whole file is refused.
    bad = good.replace('org = "ACME"', 'org = "NOPE"').replace('"Acme AB"', '"Renamed"')
    with pytest.raises(ImportProblems) as caught:
        await svc.import_text(bad, "toml", "test")
    assert str(caught.value.problems[0]) == "line 11, field org: unknown organisation NOPE"
    assert await svc.export("toml") == exported
    # Export, then import the export into a fresh store: the same registry.
    other = await service(tmp_path / "2")
    await other.import_text(exported, "toml", "test")
    assert await other.export("toml") == exported
    assert (
        (await other.export("csv"))
        .splitlines()[1]
        .startswith("ACME,Acme AB,SUPPORT-standard,2027-12-31")
    )


async def test_check_ends_expired_and_tierless_grants(tmp_path: Path) -> None:
    svc = await service(tmp_path)
    await svc.import_text(
        "id,name,products\nACME,Acme,SUPPORT-standard\nGONE,Gone,SUPPORT-iaas.base\n", "csv", "t"
    )
    await svc.import_text(
        "user_id,org,expires\n@a:x.example,ACME,2026-05-01\n@b:x.example,ACME,2027-01-01\n"
        "@c:x.example,GONE,\n",
        "csv",
        "t",
    )
    report = await svc.check("test")
    ended = {c.user_id: (c.state.value, c.why) for c in report.changes}
    assert ended == {
        "@a:x.example": ("expired", "your access grant ended on 2026-05-01"),
        "@c:x.example": ("revoked", "Gone no longer has SUPPORT-standard"),
    }
    assert (await svc.member("@b:x.example")).state == "granted"  # type: ignore[union-attr]
    assert [a.action for a in await svc.audit_log("@a:x.example")] == ["expired"]
    assert (await svc.check("again")).changes == []
    later = AccessService(svc.store, AccessSettings(), lambda: NOW + timedelta(days=400))
    _, changes = await later.plan_check(later.clock(), expiry_only=True)
    assert [c.user_id for c in changes] == ["@b:x.example"]
