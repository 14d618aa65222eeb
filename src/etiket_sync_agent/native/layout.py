"""The HDF5 layout of a native measurement file, shared by the writer and the reader.

A NetCDF4-compatible HDF5 file (xarray/h5netcdf open it): one dimension-scale dataset
per coordinate, one chunked dataset per data variable attached to them, NaN where
nothing was measured. An open-ended coordinate is an unlimited dimension. Beside them:

* ``LAYOUT_ATTR`` (root attribute, JSON): ``{"coords": [[name, unit, open]],
  "data_vars": [[name, unit, dtype]]}``, written once before SWMR starts;
* ``POINTS`` (scalar int64 dataset): how many points are whole in the file. The writer
  updates it only after the values it counts are flushed, so a reader takes the first
  ``POINTS`` points (in row order, last dimension fastest) and nothing beyond them.
"""

from __future__ import annotations

LAYOUT_ATTR = "etiket_native_layout"
MEASUREMENT_ATTR = "etiket_native_measurement"
POINTS = "points_written"
DTYPES = {"float64": "f8", "complex128": "c16"}
