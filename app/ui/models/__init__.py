"""The model manager: the Models page's tabs (installed, catalog, Hub search, downloads),
the download queue that outlives them, and the manager's settings dialog."""
