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
