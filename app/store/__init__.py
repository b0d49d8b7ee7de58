"""What the service keeps: the audit log and idempotency keys (SQLite under the data dir).

Imports only the shared modules; every stage above may use it.
"""
