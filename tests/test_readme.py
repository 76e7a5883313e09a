"""The docs stay true: README.md and docs/ checked against the real command line and the real config loader.

- every command, and every flag each command's parser accepts, is in the commands reference (docs/commands.md),
  each in its command's section (flags of the main parser in "Common flags", with the commands that take them);
- every setting the config loader accepts is in the configuration reference (docs/configuration.md), in its
  section's part of the page. The settings are not listed here: the loader is asked, by handing it an
  unknown key at every level and reading the keys its one-line error says it knows;
- every example config (a ```toml block) loads through the real loader and passes check-config's checks;
- every `arbscan ...` command line in a fenced block is one the real parser accepts (argparse's exit trapped).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from arbscan.cli.args import check_common
from arbscan.cli.command import build_parser
from arbscan.config.alerts import EVENTS
from arbscan.config.checks import check_settings, replay_markets
from arbscan.config.settings import parse_settings
from arbscan.errors import ConfigError
from arbscan.replay.reader import demo_path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
PAGES = {p.relative_to(ROOT).as_posix(): p.read_text() for p in sorted(DOCS.glob("*.md"))}
EVERY_TEXT = {"README.md": README, **PAGES}
COMMANDS_PAGE = PAGES["docs/commands.md"]
CONFIG_PAGE = PAGES["docs/configuration.md"]

PROBE = "zz_undocumented_probe"  # a key no section has: the loader's error lists the keys it knows instead
KNOWN = re.compile(re.escape(PROBE) + r": unknown setting \(known here: ([^)]*)\)")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "yaml", "ini"}  # blocks whose lines may be commands


def _sections(text: str, level: int = 2) -> dict[str, str]:
    """Heading line -> its part of the page (subsections included), for headings of ``level``."""
    marks = [m for m in re.finditer(r"^(#+) .*$", text, re.M)]
    out = {}
    for i, m in enumerate(marks):
        if len(m.group(1)) != level:
            continue
        end = next((n.start() for n in marks[i + 1:] if len(n.group(1)) <= level), len(text))
        out[m.group(0)] = text[m.start():end]
    return out


def _section(text: str, needle: str) -> str:
    """The one level-2 section whose heading contains ``needle``; fails when there is none."""
    found = [body for head, body in _sections(text).items() if needle in head]
    assert found, f"no section headed {needle!r}"
    return found[0]


def _fenced(lang_ok) -> list[tuple[str, str]]:
    """(file, block) for every fenced block in the README and docs/ whose language ``lang_ok`` accepts."""
    return [(name, m.group(2)) for name, text in EVERY_TEXT.items() for m in FENCE.finditer(text) if lang_ok(m.group(1))]


# -- commands and flags ------------------------------------------------------------------------------


def _parser_actions() -> tuple[list[argparse.Action], dict[str, argparse.ArgumentParser]]:
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in parser._actions if not isinstance(a, argparse._SubParsersAction)], dict(subs.choices)


def _long_flags(actions) -> list[str]:
    return [f for a in actions for f in a.option_strings if f.startswith("--") and f != "--help"]


def test_every_command_has_its_section():
    _, commands = _parser_actions()
    heads = list(_sections(COMMANDS_PAGE))
    missing = [name for name in commands if not any(f"`arbscan {name}`" in h for h in heads)]
    assert not missing, f"commands without a '## `arbscan NAME`' section in docs/commands.md: {missing}"


def test_every_flag_is_in_its_commands_section():
    main_actions, commands = _parser_actions()
    common = set(_long_flags(main_actions))
    missing = []
    for name, sub in commands.items():
        body = _section(COMMANDS_PAGE, f"`arbscan {name}`")
        for flag in _long_flags(sub._actions):
            if flag not in common and not re.search(re.escape(flag) + r"(?![\w-])", body):
                missing.append(f"{name} {flag}")
    assert not missing, f"flags missing from their command's section of docs/commands.md: {missing}"


def test_every_common_flag_is_in_the_common_flags_section():
    main_actions, commands = _parser_actions()
    body = _section(COMMANDS_PAGE, "Common flags")
    missing = []
    for flag in _long_flags(main_actions):
        if f"`{flag}" not in body:
            missing.append(flag)
            continue
        takers = [name for name, sub in commands.items() if flag in _long_flags(sub._actions)]
        if flag == "--version" or len(takers) == len(commands):
            continue  # every command takes it: no "taken by" to keep
        row = next((line for line in body.splitlines() if line.startswith(f"| `{flag}")), "")
        missing += [f"{flag} (taken by {name})" for name in takers if not re.search(rf"\b{re.escape(name)}\b", row)]
    assert not missing, f"common flags missing from 'Common flags' in docs/commands.md: {missing}"


# -- settings --------------------------------------------------------------------------------------


def _known_keys(document: dict[str, Any]) -> set[str] | None:
    """The keys the loader knows at the table where ``document`` holds ``PROBE``; None when it does not say."""
    try:
        parse_settings(document)
    except ConfigError as exc:
        m = KNOWN.search(str(exc))
        if m:
            return {k.strip() for k in m.group(1).split(",")}
    return None


def _example_configs() -> list[tuple[str, dict[str, Any]]]:
    return [(name, tomllib.loads(block)) for name, block in _fenced(lambda lang: lang == "toml")]


def _nested_tables(node: Any, path: tuple) -> list[tuple]:
    """Paths (keys and list indexes) to every table inside a decoded TOML document."""
    if isinstance(node, dict):
        return [path] + [p for k, v in node.items() for p in _nested_tables(v, path + (k,))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _nested_tables(v, path + (i,))]
    return []


def _with_probe(document: Any, path: tuple) -> Any:
    """A deep copy of ``document`` with ``PROBE = 1`` added to the table at ``path``."""
    if not path:
        return {**document, PROBE: 1}
    head, rest = path[0], path[1:]
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[head] = _with_probe(document[head], rest)
    return copy


def loader_settings() -> dict[str, set[str]]:
    """Section -> every setting the real loader accepts in it (nested tables' keys too), asked of the loader."""
    sections = _known_keys({PROBE: 1})
    assert sections and "scanner" in sections, "the loader no longer names the keys it knows; fix this test's probe"
    settings: dict[str, set[str]] = {}
    for section in sections:
        keys = _known_keys({section: {PROBE: 1}}) or _known_keys({section: [{PROBE: 1}]})
        assert keys, f"the loader did not name the keys of [{section}]"
        settings[section] = set(keys)
    # tables inside a section (a venue's `transfer` networks, ...): probed where the docs' examples have them
    for _, doc in _example_configs():
        for path in _nested_tables(doc, ()):
            if len(path) > 1 and path[0] in settings:
                settings[path[0]] |= _known_keys(_with_probe(doc, path)) or set()
    return settings


def test_the_probe_finds_what_the_dataclasses_hold():
    """The loader's answers are the dataclasses' fields (a probe that asked nothing would pass everything)."""
    from dataclasses import fields

    from arbscan.config.settings import LiveConfig, ScannerConfig, VenueConfig

    found = loader_settings()
    assert {f.name for f in fields(ScannerConfig)} <= found["scanner"]
    assert {f.name for f in fields(VenueConfig)} | {"network", "fee", "deposit"} <= found["venues"]
    assert {f.name for f in fields(LiveConfig)} <= found["live"]


def test_every_setting_is_in_its_sections_part_of_the_configuration_page():
    missing = []
    for section, keys in loader_settings().items():
        heads = [h for h in _sections(CONFIG_PAGE) if f"`[{section}]`" in h or f"`[[{section}]]`" in h]
        if not heads:
            missing.append(f"[{section}]")
            continue
        body = _sections(CONFIG_PAGE)[heads[0]]
        missing += [f"{section}.{k}" for k in sorted(keys) if f"`{k}`" not in body]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_every_example_config_loads_and_passes_check_config():
    """As ``check-config`` (``--for scan``), or ``--for replay`` on the bundled demo where the block's first
    line says ``check-config --for replay`` (a config for a recording's venues)."""
    blocks = _fenced(lambda lang: lang == "toml")
    assert len(blocks) >= 5
    for name, block in blocks:
        raw = tomllib.loads(block)
        command = "replay" if "check-config --for replay" in block.split("\n", 1)[0] else "scan"
        try:
            settings = parse_settings(raw, source=name)
            check_settings(settings, command, strategies=[s.name for s in settings.strategies] if "strategies" in raw else None,
                           replay=replay_markets(demo_path()) if command == "replay" else None)
        except ConfigError as exc:
            pytest.fail(f"{name}: an example config is refused by check-config --for {command}: {exc}\n{block}")


# -- command lines in fenced blocks ----------------------------------------------------------------


def _command_lines() -> list[tuple[str, list[str]]]:
    """(file, argv) of every `arbscan ...` invocation in a shell, YAML or systemd block."""
    out = []
    for name, block in _fenced(lambda lang: lang in SHELL_LANGS):
        for line in block.splitlines():
            tokens = shlex.split(line, comments=True)
            segment: list[str] = []
            for tok in tokens + ["&&"]:
                if tok not in ("&&", "||", ";", "|"):
                    segment.append(tok)
                    continue
                if segment[:1] in (["$"], ["command:"]):  # a prompt; docker-compose's `command: arbscan ...`
                    segment = segment[1:]
                if segment and (segment[0] == "arbscan" or segment[0].endswith("/bin/arbscan")):  # ExecStart=.../bin/arbscan
                    # %i is systemd's instance name (arbscan-shard@1 -> 1)
                    out.append((name, [t.replace("%i", "1") for t in segment[1:]]))
                segment = []
    return out


def test_every_command_line_shown_is_one_the_parser_accepts():
    lines = _command_lines()
    assert len(lines) >= 30
    refused = []
    for name, argv in lines:
        parser = build_parser()
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                args = parser.parse_args(argv)
                if getattr(args, "_command", None) is None:
                    parser.error("no command")
                check_common(parser, args)
        except SystemExit:
            refused.append(f"{name}: arbscan {shlex.join(argv)}: {err.getvalue().strip()}")
    assert not refused, "command lines the CLI refuses:\n" + "\n".join(refused)


# -- the README ------------------------------------------------------------------------------------


def test_readme_is_short_and_gives_install_and_the_two_commands():
    assert len(README.splitlines()) <= 300
    assert "pip install -e '.[dev]'" in README
    assert "```bash\narbscan replay --db demo.db && arbscan report --db demo.db\n```" in README


def test_readme_gives_the_test_command_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\npytest\n" in ci
    assert "```bash\npytest\n```" in README


def test_every_alert_event_is_documented():
    text = PAGES["docs/alerts.md"]
    missing = [e for e in EVENTS if f"| `{e}` |" not in text]
    assert not missing, f"alert events missing from docs/alerts.md's table: {missing}"
