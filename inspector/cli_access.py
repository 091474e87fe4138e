"""``inspector users``, ``inspector recipe``, ``inspector audit`` and ``inspector db grant``: who may change what
decides, signed changes, and the tamper-evident trail."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from inspector.cli_common import (
    DEFAULT_CONFIG,
    ConfigOption,
    DatabaseOption,
    PasswordStdin,
    UserOption,
    _run,
    _url,
    console,
    err,
    read_passwords,
)

users_app = typer.Typer(no_args_is_help=True, help="Station users, their roles and passwords.")
recipe_app = typer.Typer(no_args_is_help=True, help="Signed changes to recipes (what decides PASS and FAIL).")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")


def register_access_commands(app: typer.Typer, db_app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(recipe_app, name="recipe")
    app.add_typer(audit_app, name="audit")
    db_app.command("grant")(db_grant)
    app.command("demo-prepare", hidden=True)(demo_prepare)


@contextlib.contextmanager
def _access(config: Path, database: str | None) -> Iterator:
    from inspector.access.service import AccessService
    from inspector.config import load_station_config
    from inspector.storage.database import check_connection, make_engine, make_session_factory
    from inspector.storage.migrate import upgrade

    url = _url(config, database)
    station = load_station_config(config) if config.is_file() else None
    security = station.security if station else None
    if station is not None and database is None:  # the station's own folder, as the station makes it at start
        Path(station.station.data_dir).expanduser().mkdir(parents=True, exist_ok=True)
    check_connection(url)
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        yield AccessService.for_database(sessions, security)
    finally:
        engine.dispose()


RoleOption = Annotated[str, typer.Option("--role", help="operator, qa, engineer or admin.")]


@users_app.command("bootstrap")
def users_bootstrap(name: Annotated[str, typer.Argument(help="The first admin's user name.")],
                    password_stdin: PasswordStdin = False, config: ConfigOption = DEFAULT_CONFIG,
                    database: DatabaseOption = None) -> None:
    """Create the first admin (refused once any admin exists)."""

    def action() -> int:
        [password] = read_passwords(password_stdin, [f"new password for {name}"])
        with _access(config, database) as access:
            access.bootstrap(name, password)
        console.print(f"{name}: admin (bootstrap)", highlight=False)
        return 0

    _run(action)


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="The new user's name.")], role: RoleOption = "operator",
              user: UserOption = "", password_stdin: PasswordStdin = False, config: ConfigOption = DEFAULT_CONFIG,
              database: DatabaseOption = None) -> None:
    """Add a user (by an admin). Standard input: the admin's password, then the new user's."""

    def action() -> int:
        mine, theirs = read_passwords(password_stdin, [f"password of {user}", f"new password for {name}"])
        with _access(config, database) as access:
            access.add_user(access.authenticate(user, mine), name, role, theirs)
        console.print(f"{name}: {role}", highlight=False)
        return 0

    _run(action)


@users_app.command("passwd")
def users_passwd(name: Annotated[str, typer.Argument(help="Whose password (yours, or anyone's by an admin).")],
                 user: UserOption = "", password_stdin: PasswordStdin = False, config: ConfigOption = DEFAULT_CONFIG,
                 database: DatabaseOption = None) -> None:
    """Set a password. Standard input: the acting user's password, then the new one."""

    def action() -> int:
        actor = user or name
        mine, new = read_passwords(password_stdin, [f"password of {actor}", f"new password for {name}"])
        with _access(config, database) as access:
            access.set_password(access.authenticate(actor, mine), name, new)
        console.print(f"{name}: password set", highlight=False)
        return 0

    _run(action)


@users_app.command("role")
def users_role(name: Annotated[str, typer.Argument(help="Whose role.")], role: RoleOption = "operator",
               user: UserOption = "", password_stdin: PasswordStdin = False, config: ConfigOption = DEFAULT_CONFIG,
               database: DatabaseOption = None) -> None:
    """Change a user's role (by an admin)."""

    def action() -> int:
        [mine] = read_passwords(password_stdin, [f"password of {user}"])
        with _access(config, database) as access:
            access.set_role(access.authenticate(user, mine), name, role)
        console.print(f"{name}: {role}", highlight=False)
        return 0

    _run(action)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="Whom to disable.")], user: UserOption = "",
                  password_stdin: PasswordStdin = False, config: ConfigOption = DEFAULT_CONFIG,
                  database: DatabaseOption = None) -> None:
    """Disable a user (by an admin): they can no longer log in; their records stay."""

    def action() -> int:
        [mine] = read_passwords(password_stdin, [f"password of {user}"])
        with _access(config, database) as access:
            access.disable(access.authenticate(user, mine), name)
        console.print(f"{name}: disabled", highlight=False)
        return 0

    _run(action)


@users_app.command("list")
def users_list(config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None) -> None:
    """Users, their roles and their state."""

    def action() -> int:
        with _access(config, database) as access:
            accounts = access.accounts()
        table = Table("user", "role", "state")
        for a in accounts:
            state = "disabled" if a.disabled else "no password" if not a.has_password else (
                f"locked until {a.locked_until:%H:%M}" if a.locked_until else "active")
            table.add_row(a.name, a.role, state)
        console.print(table)
        return 0

    _run(action)


@recipe_app.command("set")
def recipe_set(
    recipe: Annotated[Path, typer.Argument(help="The recipe file.")],
    meaning: Annotated[str, typer.Option(help="What your signature means, e.g. \"approved threshold change\".")],
    user: UserOption = "",
    model: Annotated[int, typer.Option(help="Which model of the recipe, from 1.")] = 1,
    image_threshold: Annotated[float | None, typer.Option(help="The model's image threshold.")] = None,
    pixel_threshold: Annotated[float | None, typer.Option(help="The model's pixel threshold.")] = None,
    bundle: Annotated[str | None, typer.Option(help="Deploy another model bundle for the model.")] = None,
    min_area: Annotated[int | None, typer.Option("--min-area", help="Minimum defect area, pixels.")] = None,
    deadline_ms: Annotated[float | None, typer.Option(help="Deadline from trigger to verdict, ms.")] = None,
    roi: Annotated[str | None, typer.Option(help="x0,y0,x1,y1 in fractions of the frame, or 'none'.")] = None,
    password_stdin: PasswordStdin = False, config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None,
) -> None:
    """Change what decides, signed: the recipe is rewritten (version + 1) and the change, with its before and after
    and your signature, goes into the audit trail."""

    def action() -> int:
        from inspector.access.recipes import RecipeBook, RecipeChanges

        box = None
        clear: tuple[str, ...] = ()
        if roi is not None:
            if roi.lower() == "none":
                clear = ("roi",)
            else:
                try:
                    box = tuple(float(v) for v in roi.split(","))
                    assert len(box) == 4
                except (ValueError, AssertionError):
                    raise typer.BadParameter(f"--roi {roi!r}: expected x0,y0,x1,y1 or none") from None
        changes = RecipeChanges(model=model - 1, image_threshold=image_threshold, pixel_threshold=pixel_threshold,
                                min_defect_area=min_area, deadline_ms=deadline_ms, roi=box, bundle=bundle, clear=clear)
        [password] = read_passwords(password_stdin, [f"password of {user}"])
        with _access(config, database) as access:
            session = access.authenticate(user, password)
            version, signature = RecipeBook(access).change(session, password, meaning, recipe, changes)
        console.print(f"{recipe}: version {version}, signed by {signature.name} at {signature.at:%Y-%m-%d %H:%M:%S} "
                      f"UTC: {signature.meaning}", highlight=False, soft_wrap=True)
        return 0

    _run(action)


@recipe_app.command("sign")
def recipe_sign(recipe: Annotated[Path, typer.Argument(help="The recipe file, as it is now.")],
                meaning: Annotated[str, typer.Option(help="What your signature means.")], user: UserOption = "",
                password_stdin: PasswordStdin = False, config: ConfigOption = DEFAULT_CONFIG,
                database: DatabaseOption = None) -> None:
    """Sign a recipe file as it is (after an edit outside the app): stations start only on signed content."""

    def action() -> int:
        from inspector.access.recipes import RecipeBook

        [password] = read_passwords(password_stdin, [f"password of {user}"])
        with _access(config, database) as access:
            signature = RecipeBook(access).sign(access.authenticate(user, password), password, meaning, recipe)
        console.print(f"{recipe}: signed by {signature.name}: {signature.meaning}", highlight=False)
        return 0

    _run(action)


@audit_app.command("verify")
def audit_verify(config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None) -> None:
    """Walk the audit chain and the inspection seals; exit 1 naming the first row edited, deleted, inserted or
    reordered."""

    def action() -> int:
        from sqlalchemy import func, select

        from inspector.storage.audit import verify
        from inspector.storage.database import check_connection, make_engine, make_session_factory
        from inspector.storage.orm import AuditRow

        url = _url(config, database)
        check_connection(url)
        engine = make_engine(url)
        try:
            with make_session_factory(engine)() as session:
                findings = verify(session)
                rows = session.scalar(select(func.count()).select_from(AuditRow))
        finally:
            engine.dispose()
        if findings:
            err.print(f"[bold red]audit trail broken:[/] {findings[0]}", highlight=False, soft_wrap=True)
            for finding in findings[1:]:
                err.print(f"  also {finding}", highlight=False, soft_wrap=True)
            return 1
        console.print(f"audit trail intact: {rows} rows chained, every inspection sealed", highlight=False)
        return 0

    _run(action)


def db_grant(role: Annotated[str, typer.Argument(help="The PostgreSQL role the stations log in as.")],
             config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None,
             show: Annotated[bool, typer.Option(help="Print the statements instead of running them.")] = False) -> None:
    """Grant a station's PostgreSQL role what it needs and no more: it may insert inspections and audit rows,
    never UPDATE or DELETE them (run as the database owner)."""

    def action() -> int:
        from inspector.storage.grants import apply_grants, grant_statements

        if show:
            console.print("\n".join(grant_statements(role)), highlight=False)
            return 0
        try:
            apply_grants(_url(config, database), role)
        except ValueError as exc:  # SQLite, or a role name that is not a plain identifier
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            return 2
        console.print(f"granted {role}: insert and read; no UPDATE or DELETE of audit_log or inspections",
                      highlight=False)
        return 0

    _run(action)


DEMO_USERS = (("operator", "operator", "line-demo-1"), ("qa", "qa", "review-demo-1"),
              ("engineer", "engineer", "tuning-demo-1"))
DEMO_ADMIN = ("demo-admin", "admin-demo-pass")


def demo_prepare(config: ConfigOption = DEFAULT_CONFIG, database: DatabaseOption = None) -> None:
    """For `make demo`: demo users (only where no admin exists yet) and the shipped recipes signed."""

    def action() -> int:
        from inspector.access.recipes import RecipeBook
        from inspector.config import load_station_config

        recipes = [p for p in sorted(Path(load_station_config(config).recipe).parent.glob("*.yaml")) if _is_recipe(p)]
        with _access(config, database) as access:
            accounts = {a.name: a for a in access.accounts()}
            if not any(a.role == "admin" for a in accounts.values()):
                access.bootstrap(*DEMO_ADMIN)
                admin = access.authenticate(*DEMO_ADMIN)
                for name, role, password in DEMO_USERS:
                    if name not in accounts:
                        access.add_user(admin, name, role, password)
                console.print("demo users made (change their passwords for anything but a demo): "
                              + ", ".join(f"{n} / {p} ({r})" for n, r, p in DEMO_USERS)
                              + f", {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]} (admin)", highlight=False, soft_wrap=True)
            engineer = next(u for u in DEMO_USERS if u[1] == "engineer")
            book = RecipeBook(access)
            unsigned = [r for r in recipes if book.problem(r) is not None]
            if unsigned and engineer[0] in {a.name for a in access.accounts()}:
                session = access.authenticate(engineer[0], engineer[2])
                for recipe in unsigned:
                    book.sign(session, engineer[2], "demo recipe as shipped", recipe)
                console.print(f"signed {len(unsigned)} demo recipe(s) as {engineer[0]}", highlight=False)
        return 0

    _run(action)


def _is_recipe(path: Path) -> bool:
    """A YAML file with models (the recipes folder may hold the station config too)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "models" in data
