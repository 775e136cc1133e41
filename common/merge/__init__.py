"""Merging two records of one model (duplicates): the engine, the keep-list, the log and its undo."""
