"""The purge on a schedule inside each serving process (COPYDESK_PURGE_EVERY_S): a thread on its
own database connection, a batch per statement, stopped between batches at shutdown. Several
workers or instances purging at once is harmless: each batch deletes what is still there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket

from app.config import Settings
from app.store.database import open_database
from app.store.retention import Policy, Purger

log = logging.getLogger(__name__)

FIRST_RUN_S = 60.0  # at most this long after start, so a restart does not put the purge off


def policy_of(settings: Settings) -> Policy:
    return Policy(
        retention_s=settings.retention_days * 86400,
        replay_window_s=settings.replay_window_s,
        batch=settings.purge_batch,
    )


class ScheduledPurge:
    def __init__(self, settings: Settings) -> None:
        self.every_s = settings.purge_every_s
        self.purger = Purger(
            lambda: open_database(settings.database_url, settings.data_dir, upgrade=False),
            policy_of(settings),
            f"schedule:{socket.gethostname()}:{os.getpid()}",
        )
        self._task: asyncio.Task | None = None
        self._running: asyncio.Future | None = None

    def start(self) -> None:
        if self.every_s > 0:
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        await asyncio.sleep(min(self.every_s, FIRST_RUN_S) * random.uniform(0.5, 1.0))
        while not self.purger.stop.is_set():
            self._running = asyncio.ensure_future(asyncio.to_thread(self.purger.run_once))
            try:
                done = await asyncio.shield(self._running)
                if done.total:
                    log.info("purged %s", done.deleted, extra={"deletion_id": done.deletion_id})
            except Exception:  # noqa: BLE001 - a database hiccup: the next run tries again
                log.warning("the scheduled purge failed", exc_info=True)
            self._running = None
            await asyncio.sleep(self.every_s)

    async def aclose(self) -> None:
        """Stop between batches, wait for the batch in hand, then close the connection."""
        self.purger.stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._running is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._running, timeout=10.0)
        await asyncio.to_thread(self.purger.close)
