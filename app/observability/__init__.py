"""Watching the service run: Prometheus metrics, the request's context (request_id,
generation_id, client) and the JSON log lines that carry it.

Imports nothing from copydesk's stages; every stage may use it.
"""
