"""Rich progress bars, one per training phase."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Update = Callable[[int, int], None]


class Phases:
    """Hands out one progress callback ``(done, total)`` per phase; quiet when no progress is given."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    @classmethod
    def quiet(cls) -> Phases:
        return cls(None)

    @staticmethod
    def live(console: Console | None = None) -> Progress:
        return Progress(
            TextColumn("[bold]{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )

    def task(self, description: str, total: int | None) -> Update:
        if self._progress is None:
            return lambda done, total: None
        progress = self._progress
        task_id = progress.add_task(description, total=total)

        def update(done: int, new_total: int) -> None:
            progress.update(task_id, completed=done, total=new_total)

        return update
