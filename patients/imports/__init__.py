"""Importers that bring existing records into patient navigation (issue 11)."""
