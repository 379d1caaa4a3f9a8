"""The Documents page: collections of folders and files, indexed, searched, answered from."""
