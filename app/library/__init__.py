"""The variant library: passing model copy kept as templates with their context, near-duplicates
linked, reviewers' decisions, allocation among approved variants, spot checks, the review page.

Stores through app/store/ and imports only the shared modules, store and observability; api/ and
generation/ reach it (generation re-fills and re-checks what it serves), never the other way round.
"""
