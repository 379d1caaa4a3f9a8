"""The local API: an OpenAI-compatible HTTP server over the installed, pinned models.

Plain Python in the core (the window and the command line only start and stop it), on a
real ASGI stack: Starlette for routing, uvicorn for HTTP. One owner thread per loaded
model runs every request for it in arrival order (:mod:`app.core.serve.owner`); the
request and response shapes are OpenAI's (:mod:`app.core.serve.protocol`); every answer
names the exact model file that made it. The server never opens an outgoing connection:
it imports no Hub code (an import contract says so).
"""
