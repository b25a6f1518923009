"""CLI commands of the API package; gapfill/cli.py registers them:

app.command("serve")(commands.serve)
app.add_typer(commands.users_app, name="users")

Heavy imports (FastAPI, uvicorn, the catalog) happen inside the commands so `gapfill --help`
stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gapfill.console import cli_actor, emit, err
from gapfill.errors import UserError

users_app = typer.Typer(
    help="People and services allowed to use the API, their roles and tokens.",
    no_args_is_help=True,
)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default api_host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default api_port).")
    ] = None,
    insecure_cookies: Annotated[
        bool,
        typer.Option(
            "--insecure-cookies",
            help="Drop the Secure flag of the session cookie, for plain http on 127.0.0.1 "
            "only. Anything reachable from a network must sit behind https.",
        ),
    ] = False,
) -> None:
    """Run the HTTP API and the review UI (uvicorn)."""
    import uvicorn

    from gapfill.api.app import create_app
    from gapfill.config import load_settings

    settings = load_settings()
    bind_host = host or settings.api_host
    if insecure_cookies and bind_host not in ("127.0.0.1", "localhost", "::1"):
        raise UserError(f"--insecure-cookies: only allowed on 127.0.0.1, not {bind_host}")
    app = create_app(settings, cookie_secure=not insecure_cookies)
    err.print(
        f"gapfill API and review UI on http://{bind_host}:{port or settings.api_port}/",
        highlight=False,
    )
    uvicorn.run(
        app,
        host=bind_host,
        port=port or settings.api_port,
        log_level=settings.log_level.lower(),
        # Only a local proxy may set X-Forwarded-For, or the login rate limit could be dodged.
        forwarded_allow_ips="127.0.0.1",
    )


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="viewer, engineer, auditor or admin.")] = "viewer",
) -> None:
    """Create a user and print its API token. The token is shown only this once; the catalog
    keeps its SHA-256."""
    from gapfill.api.tokens import create_user
    from gapfill.catalog.db import open_catalog
    from gapfill.config import load_settings

    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        user, token = create_user(session, name, role, cli_actor())
        role = user.role
    err.print(
        f"created user {name} ({role}); its token follows and will not be shown again",
        highlight=False,
        markup=False,
    )
    print(token)


@users_app.command("token")
def users_token(name: Annotated[str, typer.Argument(help="An existing user.")]) -> None:
    """Issue another token for a user (and re-enable a revoked one); printed once."""
    from gapfill.api.tokens import new_token_for
    from gapfill.catalog.db import open_catalog
    from gapfill.config import load_settings

    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        token = new_token_for(session, name, cli_actor())
    err.print(f"new token for {name}; it will not be shown again", highlight=False, markup=False)
    print(token)


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List users with their role, live tokens (by prefix) and last use."""
    from gapfill.api.tokens import list_users
    from gapfill.catalog.db import open_catalog
    from gapfill.config import load_settings

    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        rows = list_users(session)
    emit(
        rows,
        ["name", "role", "disabled", "live_tokens", "token_prefixes", "last_used_at"],
        as_json,
        title="users",
    )


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="The user to lock out.")]) -> None:
    """Disable a user and revoke all its tokens; its browser sessions end at the next request."""
    from gapfill.api.tokens import revoke_user
    from gapfill.catalog.db import open_catalog
    from gapfill.config import load_settings

    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        count = revoke_user(session, name, cli_actor())
    err.print(f"revoked {name}: {count} token(s)", highlight=False, markup=False)
