"""``etiket-sync store configure|info|verify|gc``: which catalog and blob storage the
agent uses, whether they agree, and removing what nothing refers to.

Each command parses, calls one function of :mod:`etiket_sync_agent.services.store_config`,
renders. The sub-app is registered in ``cli/app.py``::

    app.add_typer(store_app, name="store")
"""

from __future__ import annotations

from typing import Any

import typer

from etiket_sync_agent.cli import render

store_app = typer.Typer(
    help="The store the agent writes to: a catalog database and a blob folder or S3 bucket.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _option(flag: str, env: str, text: str) -> Any:
    return typer.Option(None, flag, help=f"{text} (${env} overrides it).", metavar="VALUE")


CATALOG_URL = _option(
    "--catalog-url",
    "ETIKET_SYNC_STORE_URL",
    "SQLAlchemy URL of the catalog database, e.g. postgresql+psycopg://user@host/db; "
    "no password: use ~/.pgpass. Default: SQLite in the home",
)
S3_BUCKET = _option("--s3-bucket", "ETIKET_SYNC_S3_BUCKET", "Keep file contents in this S3 bucket")
S3_ENDPOINT = _option(
    "--s3-endpoint-url",
    "ETIKET_SYNC_S3_ENDPOINT_URL",
    "Endpoint of an S3-compatible server (MinIO, Ceph...); default AWS",
)
S3_PREFIX = _option("--s3-prefix", "ETIKET_SYNC_S3_PREFIX", "Key prefix inside the bucket")
S3_REGION = _option("--s3-region", "ETIKET_SYNC_S3_REGION", "Region of the bucket")
S3_CHECKSUM = _option(
    "--s3-checksum",
    "ETIKET_SYNC_S3_CHECKSUM",
    "sha256 (default), md5 (servers rejecting the newer checksum headers) or off",
)


def _runtime():  # noqa: ANN202
    from etiket_sync_agent.cli.ops_cmd import _runtime as runtime

    return runtime()


@store_app.command("configure")
def configure(
    catalog_url: str | None = CATALOG_URL,
    s3_bucket: str | None = S3_BUCKET,
    s3_endpoint_url: str | None = S3_ENDPOINT,
    s3_prefix: str | None = S3_PREFIX,
    s3_region: str | None = S3_REGION,
    s3_checksum: str | None = S3_CHECKSUM,
    as_json: bool = JSON,
) -> None:
    """Check a store (catalog reachable and migrated, bucket writable), then save it in
    the home. Credentials are never stored: S3 ones come from the AWS environment or
    profile."""
    from etiket_sync_agent.services.store_config import configure_store

    rt = _runtime()
    try:
        result = configure_store(
            rt.home,
            catalog_url=catalog_url,
            s3_bucket=s3_bucket,
            s3_endpoint_url=s3_endpoint_url,
            s3_prefix=s3_prefix,
            s3_region=s3_region,
            s3_checksum=s3_checksum,
        )
    finally:
        rt.close()
    if as_json:
        render.print_json(result)
        return
    render.console.print(f"Store configuration saved in {render.escape(result['saved'])}:")
    for key, value in result["config"].items() or [("store", "local (the home's folder)")]:
        render.console.print(f"  {key}: {render.escape(value)}")


@store_app.command("info")
def info(as_json: bool = JSON) -> None:
    """Show what the agent writes to (secrets redacted) and check it can reach it.
    Exit code 1 when the catalog or the blob storage cannot be reached."""
    from etiket_sync_agent.services.store_config import store_info

    rt = _runtime()
    try:
        data = store_info(rt)
    finally:
        rt.close()
    if as_json:
        render.print_json(data)
    else:
        _render_info(data)
    if data["catalog"].get("ok") is False or data["blobs"].get("ok") is False:
        raise typer.Exit(1)


@store_app.command("verify")
def verify(
    deep: bool = typer.Option(
        False, "--deep", help="Also read every content back and check its SHA-256 and size."
    ),
    as_json: bool = JSON,
) -> None:
    """Check that every file version in the catalog has its content (exit code 1 if not)."""
    from etiket_sync_agent.services.store_config import verify_store

    rt = _runtime()
    try:
        report = verify_store(rt, deep=deep)
    finally:
        rt.close()
    if as_json:
        render.print_json(report)
    else:
        how = "read back and re-hashed" if deep else "present"
        render.console.print(
            f"{report['versions']} file version(s), {report['contents']} content(s) in "
            f"{render.escape(report['where'])}: checked {how}."
        )
        for p in report["problems"]:
            what = "missing" if p["problem"] == "missing" else "content does not match"
            render.console.print(
                f"[red]{what}[/]: dataset {p['dataset']} file {render.escape(p['file'])} "
                f"version {p['version']} ({p['sha256'][:12]})"
            )
        if report["ok"]:
            render.console.print("[green]No problem found.[/]")
    if not report["ok"]:
        raise typer.Exit(1)


@store_app.command("gc")
def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; remove nothing."),
    grace_hours: float = typer.Option(
        24.0, "--grace-hours", help="Keep temp files (and new bucket objects) younger than this."
    ),
    as_json: bool = JSON,
) -> None:
    """Remove contents no dataset refers to, and leftovers of crashed uploads."""
    from etiket_sync_agent.services.store_config import gc_store

    rt = _runtime()
    try:
        done = gc_store(rt, dry_run=dry_run, grace_s=grace_hours * 3600)
    finally:
        rt.close()
    if as_json:
        render.print_json(done)
        return
    verb = "Would remove" if dry_run else "Removed"
    render.console.print(
        f"{verb} {done['blobs_removed']} unreferenced content(s) and {done['tmp_removed']} "
        f"temp file(s) / abandoned upload(s) from {render.escape(done['where'])}."
    )


def _render_info(data: dict[str, Any]) -> None:
    out = render.console.print
    esc = render.escape
    out(f"Configuration: {esc(data['config_file'])}")
    for key, origin in data["origins"].items():
        value = data["config"].get(key)
        if value:
            out(f"  {key}: {esc(value)}  ({origin})")
    catalog, blobs = data["catalog"], data["blobs"]
    where = catalog.get("url") or ""
    out(f"Catalog ({catalog['kind']}) {esc(where)}: {_state(catalog)}")
    extra = f", credentials from {blobs['credentials']}" if blobs.get("credentials") else ""
    out(f"Blobs ({blobs['kind']}) {esc(blobs.get('where', ''))}{extra}: {_state(blobs)}")


def _state(part: dict[str, Any]) -> str:
    if part.get("ok"):
        return "[green]reachable[/]"
    if part.get("ok") is None:
        return render.escape(part.get("error") or "not checked")
    return f"[red]{render.escape(part.get('error') or 'unreachable')}[/]"
