"""The bottom layer: artifact paths and the commands that make them (``paths``), atomic files (``files``),
the manifest of sha256s (``manifest``) and the paper's own numbers (``paper``)."""
