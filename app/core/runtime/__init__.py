"""What chat and classification share to run a model: the boundary with llama-cpp-python
(:mod:`.llama`) and the sandboxed chat-template renderer (:mod:`.template`)."""
