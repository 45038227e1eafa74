"""An example metricloss plugin package (see README.md)."""
