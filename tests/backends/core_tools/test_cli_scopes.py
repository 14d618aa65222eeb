"""`etiket-sync scopes map|unmap|mappings` through the real CLI on a core-tools source:
an unmapped project waits, the mapping sends it to its scope at the next run."""

from __future__ import annotations

from tests.backends.core_tools import ct_writer as ctw


def test_scopes_map_through_the_cli(cli, ct_db: str, writer: ctw.Writer) -> None:
    writer.complete("waiting", ctw.one_d("x", 5), project="beta")
    cli("scopes", "create", "beta-scope")
    cli(
        "add-source", "core_tools", "ct",
        "--set", f"dbname={ct_db}", "--set", "user=postgres", "--set", "host=127.0.0.1",
    )  # fmt: skip
    cli("run", "--once", "--source", "ct")
    before = cli("scopes", "mappings", "ct", "--json", as_json=True)
    assert before == {"mapped": {}, "unmapped": {"CT_PROJECT_beta": 1}}
    assert cli("datasets", "list", "--scope", "beta-scope", "--json", as_json=True) == []
    # held back as waiting (not failed), and no stray scope named after the project
    (item,) = cli("items", "ct", "--json", as_json=True)
    assert item["status"] == "waiting" and item["failures"] == 0
    assert "waiting for a scope mapping CT_PROJECT_beta" in item["last_error"]
    assert cli("items", "ct", "--status", "waiting", "--json", as_json=True) == [item]
    scopes = cli("scopes", "list", "--json", as_json=True)
    assert "CT_PROJECT_beta" not in {s["name"] for s in scopes}
    shown = cli("status", "--json", as_json=True)["sources"][0]
    assert shown["unmapped"] == {"CT_PROJECT_beta": 1} and shown["items"]["waiting"] == 1
    table = cli("status").stdout
    assert "waiting" in table and "CT_PROJECT_beta" in table

    out = cli("scopes", "map", "ct", "CT_PROJECT_beta", "beta-scope", "--json", as_json=True)
    assert out["scope"] == "beta-scope" and out["requeued"] == 1
    cli("run", "--once", "--source", "ct")
    stored = cli("datasets", "list", "--scope", "beta-scope", "--json", as_json=True)
    assert [d["name"] for d in stored] == ["waiting"]
    after = cli("scopes", "mappings", "ct", "--json", as_json=True)
    assert after == {"mapped": {"CT_PROJECT_beta": "beta-scope"}, "unmapped": {}}
    text = cli("scopes", "mappings", "ct").stdout
    assert "CT_PROJECT_beta" in text and "beta-scope" in text

    cli("scopes", "unmap", "ct", "CT_PROJECT_beta")
    assert cli("scopes", "mappings", "ct", "--json", as_json=True)["mapped"] == {}
    missing = cli("scopes", "map", "ct", "CT_PROJECT_beta", "nope", check=False)
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
