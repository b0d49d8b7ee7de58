"""The app as uvicorn's workers build it: each worker process reads the settings from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from app.api.app import create_app
from app.config import Settings


def app_from_env() -> FastAPI:
    return create_app(Settings.from_env())
