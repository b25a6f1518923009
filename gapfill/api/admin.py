"""User administration over HTTP (admin only); the same operations as `gapfill users`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam

from gapfill.api.auth import catalog_of, require
from gapfill.api.schemas import Revoked, UserCreated, UserIn, UserOut, errors
from gapfill.api.tokens import Principal, create_user, list_users, new_token_for, revoke_user
from gapfill.errors import UserError

router = APIRouter(prefix="/api/users", tags=["users"], responses=errors(401, 403))
Admin = Annotated[Principal, Depends(require("users"))]
Name = Annotated[str, PathParam(min_length=1, max_length=128)]


@router.get("", response_model=list[UserOut], summary="Users, their roles and live tokens")
def users(request: Request, _user: Admin) -> list[dict[str, Any]]:
    with catalog_of(request).session() as session:
        return list_users(session)


@router.post(
    "",
    response_model=UserCreated,
    status_code=201,
    summary="Create a user; the response holds its token, shown only this once",
    responses=errors(400, 409, 413),
)
def add_user(request: Request, body: UserIn, admin: Admin) -> UserCreated:
    try:
        with catalog_of(request).session() as session:
            user, token = create_user(session, body.name, body.role, admin.name)
            return UserCreated(name=user.name, role=user.role, token=token)
    except UserError as exc:
        raise HTTPException(409 if "already exists" in str(exc) else 400, str(exc)) from None


@router.post(
    "/{name}/token",
    response_model=UserCreated,
    summary="Issue another token",
    responses=errors(404),
)
def add_token(request: Request, name: Name, admin: Admin) -> UserCreated:
    try:
        with catalog_of(request).session() as session:
            token = new_token_for(session, name, admin.name)
            rows = {r["name"]: r for r in list_users(session)}
    except UserError as exc:
        raise HTTPException(404, str(exc)) from None
    return UserCreated(name=name, role=str(rows[name]["role"]), token=token)


@router.post(
    "/{name}/revoke",
    response_model=Revoked,
    summary="Disable a user and revoke all its tokens and sessions",
    responses=errors(400, 404),
)
def revoke(request: Request, name: Name, admin: Admin) -> Revoked:
    if name == admin.name:
        raise HTTPException(400, "an admin cannot revoke themself; ask another admin")
    try:
        with catalog_of(request).session() as session:
            count = revoke_user(session, name, admin.name)
    except UserError as exc:
        raise HTTPException(404, str(exc)) from None
    return Revoked(name=name, revoked_tokens=count)
