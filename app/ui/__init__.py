"""The Qt window: thin widgets and item models over :mod:`app.core`, with workers
that keep every slow core call off the GUI thread."""
