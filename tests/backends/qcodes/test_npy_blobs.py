"""Bulk decoding of QCoDeS' npy blobs equals decoding each blob with numpy."""

from __future__ import annotations

import io

import numpy as np
import pytest

from etiket_sync_agent.backends.qcodes.reader import QCoDeSFormatError
from etiket_sync_agent.backends.qcodes.reader.npy_blobs import decode_column


def _blob(arr: np.ndarray, version: tuple[int, int] | None = (3, 0)) -> bytes:
    """As QCoDeS' array adapter (npy 3.0) or complex adapter (np.save: version None)."""
    out = io.BytesIO()
    if version is None:
        np.save(out, arr)
    else:
        np.lib.format.write_array(out, arr, version=version, allow_pickle=False)
    return out.getvalue()


def _reference(blobs: list[bytes | None]) -> list[np.ndarray | None]:
    return [
        None if b is None else np.lib.format.read_array(io.BytesIO(b), allow_pickle=False)
        for b in blobs
    ]


@pytest.mark.parametrize(
    "arrays",
    [
        [np.linspace(0, 1, 7) * k for k in range(5)],
        [np.arange(6, dtype=np.int32).reshape(2, 3) + k for k in range(3)],
        [np.array([complex(k, -k)]) for k in range(4)],
        [np.arange(4.0, dtype=">f8") + k for k in range(3)],  # big-endian
        [np.empty(0) for _ in range(2)],
    ],
)
def test_uniform_column_is_stacked(arrays) -> None:
    blobs = [_blob(a) for a in arrays]
    decoded = decode_column(blobs)
    assert isinstance(decoded, np.ndarray)
    expected = np.array(_reference(blobs))
    assert decoded.dtype == expected.dtype
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize(
    "blobs",
    [
        [_blob(np.arange(3.0)), _blob(np.arange(4.0))],  # ragged
        [_blob(np.arange(3.0)), None],  # NULL
        [_blob(np.asfortranarray(np.arange(6.0).reshape(2, 3)))] * 2,  # Fortran order
        [_blob(np.arange(3.0), version=None), _blob(np.arange(3.0))],  # mixed versions
    ],
)
def test_non_uniform_column_is_decoded_per_row(blobs) -> None:
    decoded = decode_column(blobs)
    for got, want in zip(decoded, _reference(blobs), strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype


def test_pickled_or_garbage_values_are_refused() -> None:
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for blobs in ([pickled.getvalue()], [b"not an array"], [1.5]):
        with pytest.raises(QCoDeSFormatError):
            decode_column(blobs)
