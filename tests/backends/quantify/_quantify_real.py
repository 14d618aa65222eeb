"""Run in a virtual environment with the ``quantify`` package (not our test venv: it pins
an older qcodes). Measures with quantify's own MeasurementControl into a datadir, then
writes quantify's own gridded view of each dataset (``to_gridded_dataset``) for the
test to compare with what the agent stored.

argv: datadir expected_dir. Prints one TUID per line.
"""

import sys
from pathlib import Path

import numpy as np
from qcodes.parameters import ManualParameter, Parameter
from quantify.data.handling import load_dataset, set_datadir, to_gridded_dataset
from quantify.measurement.control import MeasurementControl

datadir, expected = Path(sys.argv[1]), Path(sys.argv[2])
set_datadir(datadir)
meas_ctrl = MeasurementControl("meas_ctrl")
meas_ctrl.verbose(False)
t = ManualParameter("t", unit="s", label="Time")
amp = ManualParameter("amp", unit="V", label="Amplitude")
signal = Parameter("sig", unit="V", label="Signal", get_cmd=lambda: np.cos(t()) * amp())
amp(1.0)

meas_ctrl.settables(t)
meas_ctrl.setpoints(np.linspace(0, 5, 30))
meas_ctrl.gettables(signal)
one_d = meas_ctrl.run("cosine 1D")

meas_ctrl.settables([t, amp])
meas_ctrl.setpoints_grid([np.linspace(0, 5, 12), np.linspace(0.5, 2, 4)])
meas_ctrl.gettables(signal)
two_d = meas_ctrl.run("cosine 2D")

for ds in (one_d, two_d):
    tuid = ds.attrs["tuid"]
    gridded = to_gridded_dataset(load_dataset(tuid))
    gridded.to_netcdf(expected / f"{tuid}.nc", engine="h5netcdf", invalid_netcdf=True)
    print(tuid, flush=True)
