"""The price / stock / offer source of truth: a client, a reference server of its contract, and the
trade facts of one request as the rest of the service sees them.

Imports only the shared modules.
"""
