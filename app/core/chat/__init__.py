"""Offline chat: the engine, the context budget, sampling presets, and conversations on disk."""
