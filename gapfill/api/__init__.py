"""The HTTP API and review UI (FastAPI): `gapfill.api.app.create_app(settings)`.

One module a concern: app (factory, middleware, errors), auth (sessions, CSRF, roles, login
rate), tokens (users and hashed API tokens), browse (read endpoints), clip_media (clip video with
Range, decoded frames, path safety), review (approve/reject + provenance event), audit (audit
JSON/CSV, verify), admin (users over HTTP), pages (server-rendered UI), commands (`gapfill serve`,
`gapfill users`).
"""
