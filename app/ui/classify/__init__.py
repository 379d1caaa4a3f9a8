"""The Classify page: label sets, a text at once, whole files, evaluation, teaching."""
