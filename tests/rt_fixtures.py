"""Pytest fixture: one real RT 5 per test session (~3.5 s to start; tickets are cheap).

tests/conftest.py imports it with `from tests.rt_fixtures import rt  # noqa`.
Tests share the instance, so they use unique subjects / room ids instead of a fresh RT.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.rt_server import RTInstance, rt_installed, start_rt


@pytest.fixture(scope="session")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RTInstance]:
    if not rt_installed():
        pytest.skip(
            "RT 5 binaries absent: apt-get install --no-install-recommends "
            "request-tracker5 rt5-db-sqlite rt5-standalone"
        )
    inst = start_rt(tmp_path_factory.mktemp("rt"))
    try:
        yield inst
    finally:
        inst.stop()


@pytest.fixture(scope="session")
def rt4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RTInstance]:
    """One real RT 4.4.6 (REST 1.0 only) per session, shared like `rt`."""
    from harness.rt4_server import rt4_installed, start_rt4

    if not rt4_installed():
        pytest.skip(
            "RT 4.4 binaries absent: apt-get install --no-install-recommends "
            "request-tracker4 rt4-db-sqlite rt4-standalone"
        )
    inst = start_rt4(tmp_path_factory.mktemp("rt4"))
    try:
        yield inst
    finally:
        inst.stop()
