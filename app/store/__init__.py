"""What the service keeps: the audit log and request claims (idempotency), in embedded SQLite under
the data dir or in a PostgreSQL shared by instances (COPYDESK_DATABASE_URL); schema migrations.

Imports only the shared modules; every stage above may use it.
"""
