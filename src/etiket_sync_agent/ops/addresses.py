"""``HOST:PORT`` addresses of what the agent serves (metrics, the web page)."""

from __future__ import annotations

from etiket_sync_agent.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"


def parse_address(text: str, what: str = "metrics", example: str = "127.0.0.1:9464") -> tuple[
    str, int
]:  # fmt: skip
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[IPv6]:PORT`` -> (host, port); the host
    defaults to 127.0.0.1 (never every interface unless asked). ``what`` names the
    address in the error."""
    text = text.strip()
    host, port = DEFAULT_HOST, text
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif ":" in text:
        host, _, port = text.rpartition(":")
        host = host or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ConfigError(
            f"invalid {what} address {text!r}", hint=f"give HOST:PORT, e.g. {example}"
        )
    return host, number
