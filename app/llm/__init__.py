"""Talking to any OpenAI-compatible model, and running the embedded one.

Imports only the shared modules.
"""
