"""``/files/{dataset_uuid}/{name}``: the latest version of a stored file, streamed.

Only store content is served, found by id: the dataset must be one of the catalog
(a uuid, never a path) and the name one of that dataset's file names as the catalog lists
them; nothing of the URL ever becomes a filesystem path. Anything else is 404.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from etiket_sync_agent.errors import NotFoundError

_UUID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{7,63}$")
CHUNK = 1 << 16


def valid_uuid(text: str) -> bool:
    """Whether ``text`` has the form of a dataset id (letters, digits, ``-``, ``_``)."""
    return bool(_UUID.match(text))


def _not_found() -> Response:
    return PlainTextResponse("not found", status_code=404)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name (RFC 6266/5987)."""
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download(request: Request) -> Response:
    uuid = request.path_params["uuid"]
    name = request.path_params["name"]
    if not valid_uuid(uuid):
        return _not_found()
    rt = request.app.state.runtime.get()
    try:
        info = rt.store.get_dataset(uuid)
    except NotFoundError:
        return _not_found()
    match = next((f for f in info.files if f.name == name), None)
    if match is None or info.uuid != uuid:
        return _not_found()
    ctype = mimetypes.guess_type(match.filename)[0] or "application/octet-stream"
    store = rt.store

    def chunks() -> Iterator[bytes]:
        with store.open_file(uuid, match.name, match.latest.version) as fh:
            while block := fh.read(CHUNK):
                yield block

    return StreamingResponse(
        chunks(),
        media_type=ctype,
        headers={
            "Content-Disposition": content_disposition(match.filename),
            "Content-Length": str(match.latest.size),
            "X-Content-Type-Options": "nosniff",
        },
    )
