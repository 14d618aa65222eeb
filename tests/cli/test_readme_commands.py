"""The README's command table is the CLI: every command and option it names exists, and
every command of ``etiket-sync`` has a row."""

from __future__ import annotations

import re

import typer

from etiket_sync_agent.cli.app import app
from tests.conftest import REPO


def _commands() -> dict[str, set[str]]:
    """'sources list' -> its option names, for every command of the app."""
    root = typer.main.get_command(app)
    out: dict[str, set[str]] = {}

    def walk(group, prefix: str) -> None:  # noqa: ANN001 - click groups/commands
        for name, cmd in group.commands.items():
            path = f"{prefix}{name}"
            if hasattr(cmd, "commands"):
                walk(cmd, path + " ")
            else:
                out[path] = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}

    walk(root, "")
    return out


def _rows() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Using it") : text.index("### How the loop works")]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_the_readme_command_table_matches_the_cli() -> None:
    commands = _commands()
    documented: set[str] = set()
    for row in _rows():
        cell = row.split(" | ")[0].removeprefix("| ")
        for usage in re.findall(r"`([^`]+)`", cell):
            words = usage.replace("\\|", "|").split()
            head = words[0]
            if len(words) > 1 and "|" in words[1]:  # `sources list|show|...`
                names = [f"{head} {sub}" for sub in words[1].split("|")]
            elif len(words) > 1 and f"{head} {words[1]}" in commands:
                names = [f"{head} {words[1]}"]
            else:
                names = [head]
            for name in names:
                assert name in commands, f"README names `{name}`, the CLI has no such command"
                documented.add(name)
                for option in re.findall(r"--[a-z][a-z-]*", usage):
                    assert option in commands[name], f"`{name}` has no option {option}"
    assert documented == set(commands), f"not in the README: {set(commands) - documented}"


def test_every_command_has_help_and_no_flag_is_shown_as_taking_a_value(capsys) -> None:
    import pytest

    from etiket_sync_agent.cli.app import main

    for name in sorted(_commands()):
        with pytest.raises(SystemExit) as exit_:
            main([*name.split(), "--help"])
        out = capsys.readouterr().out
        assert exit_.value.code == 0 and "Usage:" in out, name
        assert "<bool>" not in out, (name, out)
