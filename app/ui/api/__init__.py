"""The window's switch for the local OpenAI-compatible API (``app.core.serve``)."""
