"""What a failed attempt shows and whether it is retried, for exceptions raised by real
operations (not constructed by hand)."""

from __future__ import annotations

import errno
import math
import os
import sys
from pathlib import Path

import pytest

from etiket_sync_agent.engine.failures import describe_failure, redacted_record
from etiket_sync_agent.errors import DatasetError


def _raised(fn) -> BaseException:  # noqa: ANN001
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - what the worker catches
        return exc
    raise AssertionError("did not raise")


def test_conditions_that_cannot_change_are_permanent_and_clear(tmp_path: Path) -> None:
    cases = [
        (lambda: os.open(tmp_path, os.O_RDWR), "is a folder, not a file"),
        (lambda: os.open(tmp_path / ("x" * 300), os.O_RDONLY), "name too long"),
        (lambda: os.open(tmp_path / "missing" / "f", os.O_RDONLY), None),  # transient
    ]
    loop = tmp_path / "loop"
    os.symlink("loop", loop)
    cases.append((lambda: os.open(loop, os.O_RDONLY), "symlink loop"))
    for fn, text in cases:
        failure = describe_failure(_raised(fn))
        assert "Errno" not in failure.message
        if text is None:
            assert failure.retryable and "no such file or directory" in failure.message
        else:
            assert not failure.retryable, failure
            assert text in failure.message, failure.message


def test_python_errors_become_sentences() -> None:
    def recurse(n: int) -> int:
        return recurse(n + 1) + 1

    rec = describe_failure(_raised(lambda: recurse(0)))
    assert not rec.retryable and "nested too deeply" in rec.message
    assert "RecursionError" not in rec.message and "maximum recursion" not in rec.message
    over = describe_failure(_raised(lambda: int(math.inf)))
    assert not over.retryable and over.message.startswith("a number in the data is out of range")
    assert "OverflowError" not in over.message
    bad = describe_failure(_raised(lambda: os.fsdecode(b"a\xff").encode("utf-8")))
    assert not bad.retryable and "not valid UTF-8" in bad.message
    perm = describe_failure(PermissionError(errno.EACCES, "Permission denied", "/d/f"))
    assert perm.message.startswith("/d/f: permission denied (hint: give the agent")
    assert not perm.retryable
    own = describe_failure(DatasetError("locked", retryable=True))
    assert own.retryable and own.message == "locked"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX")
def test_windows_sharing_violation_is_transient() -> None:
    exc = PermissionError(errno.EACCES, "The process cannot access the file")
    exc.winerror = 32  # what Windows sets for a file another program holds open
    assert describe_failure(exc).retryable


def test_messages_and_records_are_redacted() -> None:
    from dataclasses import dataclass, field

    @dataclass
    class Cfg:
        key: str = field(default="Sup3rSecret", metadata={"secret": True})
        dsn: str = "host=h password=pw9 user=u"

    def fail() -> None:
        raise RuntimeError("auth Sup3rSecret host=h password=pw9")

    exc = _raised(fail)
    failure = describe_failure(exc, Cfg())
    assert "Sup3rSecret" not in failure.message and "pw9" not in failure.message
    record = {"error": str(exc), "tasks": [{"logs": ["dsn host=h password=pw9"]}]}
    assert "pw9" not in str(redacted_record(record, Cfg()))
    assert "Sup3rSecret" not in str(redacted_record(record, Cfg()))
