"""Fixtures: one real Synapse per test session; fresh rooms and people per test.

The code that starts servers and builds worlds lives in harness/, shared with demo/ and
benchmarks/; this file only turns it into pytest fixtures.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from harness.matrix_helpers import World
from harness.synapse_server import Synapse, free_port
from harness.world import build_world
from tests.rt_fixtures import rt, rt4  # noqa: F401  (session RT fixtures)


@pytest.fixture(scope="session", autouse=True)
def _shared_embedding_store() -> None:
    """One vector store (and derived int8 model) for the whole session and across runs: the
    docs are embedded once (~1 min), not per fixture; the store is keyed by chunk content."""
    os.environ.setdefault(
        "BACKCHANNEL_EMBED_CACHE", str(Path.home() / ".cache" / "backchannel" / "test-embeddings")
    )


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = Synapse(tmp_path_factory.mktemp("synapse"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def world(synapse: Synapse, tmp_path: Path) -> AsyncIterator[World]:
    w = await build_world(synapse, tmp_path)
    try:
        yield w
    finally:
        await w.stop()
