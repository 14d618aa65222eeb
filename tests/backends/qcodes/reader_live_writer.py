"""A real QCoDeS measurement writing rows slowly, for the reader's live test.

argv: db_path journal_mode n_points
Prints "started <run_id>" once the run exists and "done" when it is completed.
Exits non-zero if any write fails (e.g. "database is locked" because a reader held a lock
for longer than the writer's busy timeout).
"""

import sys
import time

from qcodes.dataset import Measurement, initialise_or_create_database_at, load_or_create_experiment
from qcodes.parameters import ManualParameter

db, journal_mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
initialise_or_create_database_at(db, journal_mode=journal_mode)
exp = load_or_create_experiment("live", sample_name="chip")
x = ManualParameter("x", unit="V")
y = ManualParameter("y", unit="V")
z = ManualParameter("z", unit="A")
meas = Measurement(exp=exp, name="live grid")
meas.register_parameter(x)
meas.register_parameter(y)
meas.register_parameter(z, setpoints=(x, y))
meas.set_shapes({"z": (n // 10, 10)})
meas.write_period = 0.01
with meas.run() as ds:
    print("started", ds.run_id, flush=True)
    for i in range(n):
        ds.add_result((x, i // 10), (y, (i % 10) * 0.5), (z, i * 0.25))
        if i % 10 == 9:
            ds.flush_data_to_database()
            time.sleep(0.005)
print("done", flush=True)
