"""The web page (``etiket-sync serve``): another renderer over the service functions the
CLI calls. :mod:`.app` builds the application, :mod:`.api` answers ``/api/`` with the
services' dicts (the CLI's ``--json`` shapes), :mod:`.pages` renders HTML, :mod:`.files`
streams stored files by id, :mod:`.security` holds the token and cross-site checks.

Nothing here is imported by ``etiket-sync --help``: the command imports it lazily.
"""
