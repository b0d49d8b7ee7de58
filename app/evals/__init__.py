"""Prompt-regression evals: cases in evals/cases/, a runner, an HTML report, a baseline gate."""
