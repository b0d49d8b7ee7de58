"""Writing the copy: trade facts and placeholders, prompt rendering, the draft → check → repair →
fallback loop per variant, assembly, and the audit record of each generation.

May import guardrails, kb, llm, commerce, store and the shared modules; not api or cli.
"""
