"""What every ``inspector`` command shares: consoles, the config and database options, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)
DEFAULT_CONFIG = Path("configs/station.yaml")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Station configuration file.")]


def _user_errors() -> tuple[type[BaseException], ...]:
    from inspector.access.passwords import WeakPassword
    from inspector.access.service import AccessError
    from inspector.bundle.store import BundleError
    from inspector.config import ConfigError
    from inspector.domain.camera import CameraError
    from inspector.review.service import ReviewError
    from inspector.station.errors import StartupError
    from inspector.storage.database import DatabaseUnavailable

    return (ConfigError, StartupError, BundleError, CameraError, DatabaseUnavailable, FileNotFoundError, AccessError,
            WeakPassword, ReviewError)


def _run(action: Callable[[], int | None]) -> None:
    try:
        code = action() or 0
    except _user_errors() as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _url(config: Path, database: str | None) -> str:
    from inspector.config import load_station_config
    from inspector.station.factory import database_url

    return database or database_url(load_station_config(config))


DatabaseOption = Annotated[str | None, typer.Option("--database", help="Database URL (overrides the config).")]




PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of "
                                             "standard input (a new one, where needed, from the second).")]
UserOption = Annotated[str, typer.Option("--user", help="Who does this (their password is asked for).")]


def read_passwords(stdin: bool, prompts: list[str]) -> list[str]:
    """One password per prompt: lines of standard input with ``--password-stdin``, else hidden prompts."""
    if stdin:
        lines = sys.stdin.read().splitlines()
        if len(lines) < len(prompts):
            raise typer.BadParameter(f"--password-stdin: expected {len(prompts)} line(s) on standard input "
                                     f"({', '.join(prompts)}), got {len(lines)}")
        return lines[: len(prompts)]
    return [typer.prompt(prompt, hide_input=True) for prompt in prompts]
