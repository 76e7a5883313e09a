"""The README stays true: every CLI command, every option and every setting appears in it."""

import argparse
import dataclasses
from pathlib import Path

from arbscan.config import settings as config
from arbscan.config.alerts import EVENTS, AlertConfig
from arbscan.config.bus import BusConfig
from arbscan.funding.conversions import Conversion
from arbscan.cli.command import COMMANDS, build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    raise AssertionError("no subcommands")


def test_every_command_is_documented():
    missing = [c.name for c in COMMANDS if f"arbscan {c.name}" not in README]
    assert not missing, f"commands missing from README: {missing}"


def test_every_option_of_every_command_is_documented():
    missing = []
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and flag not in README:
                    missing.append(f"{name} {flag}")
    assert not missing, f"options missing from README: {missing}"


def test_every_setting_is_documented():
    sections = {
        "scanner": config.ScannerConfig,
        "venues": config.VenueConfig,
        "strategies": config.StrategyConfig,
        "live": config.LiveConfig,
        "alerts": AlertConfig,
        "bus": BusConfig,
        "conversions": Conversion,
    }
    missing = []
    for section, cls in sections.items():
        if f"[{section}]" not in README and f"[[{section}]]" not in README:
            missing.append(section)
        for f in dataclasses.fields(cls):
            if f"{f.name} =" not in README and f"`{f.name}`" not in README:
                missing.append(f"{section}.{f.name}")
    assert not missing, f"settings missing from README: {missing}"


def test_readme_gives_the_test_command_ci_runs():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "\npytest\n" in ci
    assert "```bash\npytest\n```" in README


def test_every_alert_event_is_documented():
    missing = [e for e in EVENTS if f"| `{e}` |" not in README]
    assert not missing, f"alert events missing from README's table: {missing}"
