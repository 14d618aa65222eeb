"""Test helper process: when the agent opens ``a_big.bin`` for reading, delete ``b_small.txt``.

Uses watchdog's real inotify events, so the deletion happens while the agent is busy
uploading the big file — the file it lists next has vanished when it gets there.
"""

import sys
import threading
from pathlib import Path

from watchdog.events import FileOpenedEvent, FileSystemEventHandler
from watchdog.observers import Observer

folder = Path(sys.argv[1])
done = threading.Event()


class Handler(FileSystemEventHandler):
    def on_opened(self, event):  # noqa: ANN001
        if Path(event.src_path).name == "a_big.bin" and not done.is_set():
            (folder / "b_small.txt").unlink()
            done.set()


obs = Observer()
obs.schedule(Handler(), str(folder), recursive=False, event_filter=[FileOpenedEvent])
obs.start()
print("watching", flush=True)
ok = done.wait(60)
obs.stop()
obs.join()
sys.exit(0 if ok else 1)
