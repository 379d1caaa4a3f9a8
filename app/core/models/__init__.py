"""Model files on this machine.

The store and its registry (every installed version, immutable, with its provenance), the
bounded GGUF reader, lockfiles, the bundled starter model, the curated catalog, and the
16-bit copies made for classification. Nothing here touches the network or renders a
chat template.
"""
