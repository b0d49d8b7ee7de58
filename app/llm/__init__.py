"""Talking to any OpenAI-compatible model, and running the embedded one."""
