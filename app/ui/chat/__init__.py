"""The chat page: conversations with the local model, streamed from the inference thread."""
