"""The Hugging Face Hub: search, downloads pinned to a commit, and update checks.

The only part of the core that opens a network connection. Chat and classification never
import it (an import contract in pyproject.toml says so).
"""
