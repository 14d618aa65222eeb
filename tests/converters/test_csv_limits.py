"""csv_to_netcdf refuses what it cannot hold or parse with a ValueError (a clear,
permanent item error), never a csv.Error or an out-of-memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from etiket_sync_agent.converters.csv_to_netcdf import MAX_CSV_BYTES, CsvToNetCDFConverter


def test_a_file_too_large_to_hold_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with open(big, "wb") as fh:  # sparse: costs no disk
        fh.write(b"t,v\n0,1\n")
        fh.truncate(MAX_CSV_BYTES + 1)
    with pytest.raises(ValueError, match="too large to convert in memory"):
        CsvToNetCDFConverter().convert(big, tmp_path)


def test_a_field_over_the_csv_limit_is_a_value_error(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text('t,v\n0,"' + "1" * 200_000 + '"\n')
    with pytest.raises(ValueError, match="not a CSV table"):
        CsvToNetCDFConverter().convert(odd, tmp_path)
