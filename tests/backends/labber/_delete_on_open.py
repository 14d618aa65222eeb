"""Test helper process: delete the file argv[1] as soon as someone opens it (inotify).

The agent then finds the Labber log gone while it is synchronizing it.
"""

import sys
import threading
from pathlib import Path

from watchdog.events import FileOpenedEvent, FileSystemEventHandler
from watchdog.observers import Observer

target = Path(sys.argv[1])
done = threading.Event()


class Handler(FileSystemEventHandler):
    def on_opened(self, event):  # noqa: ANN001
        if Path(event.src_path) == target and not done.is_set():
            target.unlink()
            done.set()


obs = Observer()
obs.schedule(Handler(), str(target.parent), recursive=False, event_filter=[FileOpenedEvent])
obs.start()
print("watching", flush=True)
ok = done.wait(60)
obs.stop()
obs.join()
sys.exit(0 if ok else 1)
