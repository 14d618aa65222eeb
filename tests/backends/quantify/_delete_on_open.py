"""Test helper process: when ``dataset.hdf5`` in a folder is opened, delete another file
of that folder (argv: folder, name to delete). Real inotify events (watchdog), so the
file vanishes while the agent is in the middle of synchronizing the measurement."""

import sys
import threading
from pathlib import Path

from watchdog.events import FileOpenedEvent, FileSystemEventHandler
from watchdog.observers import Observer

folder, victim = Path(sys.argv[1]), sys.argv[2]
done = threading.Event()


class Handler(FileSystemEventHandler):
    def on_opened(self, event):  # noqa: ANN001
        if Path(event.src_path).name == "dataset.hdf5" and not done.is_set():
            (folder / victim).unlink()
            done.set()


obs = Observer()
obs.schedule(Handler(), str(folder), recursive=False, event_filter=[FileOpenedEvent])
obs.start()
print("watching", flush=True)
ok = done.wait(60)
obs.stop()
print("deleted" if ok else "timeout", flush=True)
