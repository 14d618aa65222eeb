"""``csv_to_netcdf``: a numeric CSV table with a header row -> NetCDF4 (xarray).

The first column becomes the coordinate, every other column a data variable along it.
The table is held in memory: files over :data:`MAX_CSV_BYTES` are refused (the file itself
is still uploaded as it is).
"""

from __future__ import annotations

import csv
from pathlib import Path

from etiket_sync_agent.plugins.context import write_netcdf
from etiket_sync_agent.plugins.converter import FileConverter

MAX_CSV_BYTES = 256 << 20


class CsvToNetCDFConverter(FileConverter):
    input_type = ".csv"
    output_type = ".nc"

    def convert(self, input_path: Path, output_dir: Path) -> Path:
        import numpy as np
        import xarray as xr

        size = input_path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise ValueError(
                f"{size >> 20} MiB is too large to convert in memory"
                f" (at most {MAX_CSV_BYTES >> 20} MiB)"
            )
        with open(input_path, newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(4096)
            fh.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            try:
                rows = list(csv.reader(fh, dialect))
            except csv.Error as exc:  # e.g. a NUL byte or a field over the size limit
                raise ValueError(f"not a CSV table: {exc}") from None
        if len(rows) < 2:
            raise ValueError("expected a header row and at least one data row")
        header = [h.strip() or f"column_{i}" for i, h in enumerate(rows[0])]
        try:
            data = np.array([[float(x) for x in r] for r in rows[1:] if r], dtype=float)
        except ValueError as exc:
            raise ValueError(f"non-numeric value in {input_path.name}: {exc}") from None
        if data.ndim != 2 or data.shape[1] != len(header):
            raise ValueError("rows do not all have as many columns as the header")
        coord = header[0]
        ds = xr.Dataset(
            {name: ((coord,), data[:, i]) for i, name in enumerate(header) if i > 0},
            coords={coord: data[:, 0]},
            attrs={"converted_from": input_path.name},
        )
        out = output_dir / (input_path.stem + self.output_type)
        return write_netcdf(ds, out)
