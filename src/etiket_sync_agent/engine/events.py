"""Typed events the engine emits; the CLI (or a test) renders them. No Rich here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceDiscovered:
    source: str
    new: int
    changed: int
    pending: int


@dataclass(frozen=True)
class SourceFailed:
    source: str
    error: str


@dataclass(frozen=True)
class ItemStarted:
    source: str
    identifier: str
    mode: str  # "normal" | "live"


@dataclass(frozen=True)
class ItemFinished:
    source: str
    identifier: str
    status: str
    error: str | None
    seconds: float


@dataclass(frozen=True)
class IterationFinished:
    iteration: int
    attempted: int
    failed: int


Event = SourceDiscovered | SourceFailed | ItemStarted | ItemFinished | IterationFinished
Reporter = Callable[[Event], None]


def null_reporter(event: Event) -> None:
    """Ignore events."""
