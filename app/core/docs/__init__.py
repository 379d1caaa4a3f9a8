"""Answers from your own documents: folders read into passages, indexed with a pinned
embedder, searched by keywords and vectors together (issue 23).

A feature beside chat and classify: it never imports the Hub client, chat or classify.
"""
