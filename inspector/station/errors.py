"""Why a station could not start, by type: the CLI prints ``str(exc)``, the window shows ``exc.alarm``."""

from __future__ import annotations


class StartupError(Exception):
    """The station cannot start; ``str()`` is one line that says what to fix."""

    prefix = "station did not start"  # how the CLI's one line begins
    alarm_prefix = "Station did not start"  # how the operator's alarm begins

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{self.prefix}: {detail}" if self.prefix else detail)

    @property
    def alarm(self) -> str:
        """The failure in words an operator can act on."""
        return f"{self.alarm_prefix}: {self.detail}"


class ConfigInvalid(StartupError):
    """The station config or the recipe is missing or invalid (the detail names file, field and value)."""

    prefix = ""
    alarm_prefix = "Configuration invalid"


class CameraUnavailable(StartupError):
    prefix = "camera"
    alarm_prefix = "Camera not available"


class ModelRefused(StartupError):
    """A bundle failed its checks (hashes, schema, equivalence) or does not fit the recipe."""

    prefix = "model bundle refused"
    alarm_prefix = "Model refused"


class DatabaseUnreachable(StartupError):
    """The database does not answer, or cannot be migrated to the current schema."""

    prefix = "database unreachable"
    alarm_prefix = "Database unreachable – station not started"


class RecipeUnsigned(StartupError):
    """The recipe file's content was never signed by an engineer, or changed since (edited outside the app)."""

    prefix = "recipe not signed"
    alarm_prefix = "Recipe not signed – station not started"
