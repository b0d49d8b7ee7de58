"""Prompt-regression evals: cases in evals/cases/, a runner, an HTML report, a baseline gate, and
the guardrail corpus evaluation (twin of evals/).

May import every stage below the API (generation and what it uses).
"""
