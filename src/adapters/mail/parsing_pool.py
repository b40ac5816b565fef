"""Parsing in worker processes, for the SMTP receiver.

The receiver is one Python process: its SMTP sessions, its saves and the parsing
of every message share one GIL, so it used one core however many the machine
has, and parsing (the `email` package walks a message line by line, and an
attachment is thousands of lines) was the largest part of that core. Here the
bytes go to a small pool of processes that parse, sanitise and store the
attachments, and the `InboundEmail` comes back; the receiver keeps the protocol
and the saves.

What the parser raises in a worker is raised in the caller as it was (an
unreadable message is quarantined the same way). A worker that dies (killed, out
of memory) is a passing failure: `ParserUnavailableError`, which the SMTP
receiver answers 451 so the sender retries, and a new pool serves the next
message.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from adapters.mail.parsing import parse_message
from adapters.mail.store import ContentStore
from crm_core.inbox.domainmodel import InboundEmail

log = logging.getLogger(__name__)


class ParserUnavailableError(Exception):
    """The parsing processes are down: try the message again later."""


def _parse(raw: bytes, attachments_root: Path, max_attachment_bytes: int) -> InboundEmail:
    return parse_message(
        raw, store=ContentStore(attachments_root), max_attachment_bytes=max_attachment_bytes
    )


class ParsingPool:
    """`parse(raw)` as `parse_message` would, in one of `processes` worker processes."""

    def __init__(self, attachments: ContentStore, max_attachment_bytes: int, processes: int):
        self._root = attachments.root
        self._max_attachment_bytes = max_attachment_bytes
        self._processes = processes
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # Spawned, not forked: a fork of this process (threads, connection pools,
        # an event loop) could copy a lock held by another thread.
        return ProcessPoolExecutor(max_workers=self._processes, mp_context=get_context("spawn"))

    def parse(self, raw: bytes) -> InboundEmail:
        executor = self._executor
        try:
            return executor.submit(_parse, raw, self._root, self._max_attachment_bytes).result()
        except BrokenProcessPool as error:
            log.warning("Processus d’analyse perdus, remplacés")
            with self._lock:
                if self._executor is executor:
                    self._executor = self._new_executor()
            executor.shutdown(wait=False, cancel_futures=True)
            raise ParserUnavailableError from error

    def warm_up(self) -> None:
        """Start the workers now (they import the parser): the first message waits less."""
        futures = [self._executor.submit(_warm) for _ in range(self._processes)]
        for future in futures:
            future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _warm() -> None:
    return None
