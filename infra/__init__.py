"""The Pulumi program (`__main__.py`), its components, its config schema and the offline graph."""
