"""The bot's handle on the knowledge base: built off the event loop, swapped atomically on reload."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from knowledge.index import Decision, KnowledgeBase, fingerprint_of
from knowledge.settings import KnowledgeSettings

log = logging.getLogger(__name__)


class KnowledgeService:
    """Holds the current index. Readers take `self.kb` once per question, so a reload never
    mixes two indexes inside one answer."""

    def __init__(self, settings: KnowledgeSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.kb: KnowledgeBase | None = None
        self.ready = asyncio.Event()
        self.built_at = 0.0
        self.last_error: str | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> KnowledgeBase:
        """Build (or load from cache) in a worker thread; the old index serves until then."""
        async with self._lock:
            t0 = time.perf_counter()
            try:
                kb = await asyncio.to_thread(
                    KnowledgeBase.build, self.settings, self.cache_dir, log.info
                )
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("knowledge base build failed")
                raise
            self.kb = kb
            self.built_at = time.time()
            self.last_error = None
            self.ready.set()
            log.info(
                "knowledge base %s: %d sections in %.2fs",
                kb.fingerprint,
                len(kb.docs),
                time.perf_counter() - t0,
            )
            return kb

    async def changed(self) -> bool:
        """Whether the docs tree (or the curated file) differs from the loaded index."""
        if self.kb is None:
            return True
        fp = await asyncio.to_thread(fingerprint_of, self.settings)
        return fp != self.kb.fingerprint

    async def watch(self) -> None:
        """Rebuild when the docs tree changes (a `git pull` in the docs checkout), no restart."""
        interval = self.settings.watch_interval_s
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.changed():
                    log.info("docs changed; rebuilding the knowledge base")
                    await self.load()
            except Exception:
                log.exception("knowledge base watch failed; keeping the current index")

    async def decide(self, text: str) -> Decision | None:
        kb = self.kb
        if kb is None:
            return None
        return await asyncio.to_thread(kb.decide, text)
