"""copydesk: marketing copy from an LLM, checked before it is sent."""

__version__ = "0.1.0"
