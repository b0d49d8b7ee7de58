"""HTTP: the FastAPI app, its routes, errors that name the field, client auth, idempotent replays.

May import every stage below it (generation, store, and the shared modules); nothing imports it.
"""

from app.api.app import create_app

__all__ = ["create_app"]
