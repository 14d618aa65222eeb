"""Test helper process: a real QCoDeS measurement writing rows slowly into a database.

argv: db_path n_points delay_s [first_run_only]
Prints "started <guid>" when the run exists, "done" at the end.
"""

import sys
import time

from qcodes.dataset import Measurement, initialise_or_create_database_at, load_or_create_experiment
from qcodes.parameters import ManualParameter

db, n, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
initialise_or_create_database_at(db)
exp = load_or_create_experiment("transport", sample_name="chip7")
x = ManualParameter("gate", unit="V", label="Gate voltage")
y = ManualParameter("current", unit="A", label="Drain current")
meas = Measurement(exp=exp, name="IV sweep\nslow, for the live test")
meas.register_parameter(x)
meas.register_parameter(y, setpoints=(x,))
meas.write_period = 0.05
with meas.run() as ds:
    print("started", ds.dataset.guid, flush=True)
    for i in range(n):
        ds.add_result((x, i * 0.1), (y, (i * 0.1) ** 2))
        time.sleep(delay)
print("done", time.time(), flush=True)
