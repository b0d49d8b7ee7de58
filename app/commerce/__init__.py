"""The price / stock / offer source of truth: a client, and a reference server of its contract."""
