"""Baton's common runtime: everything the four services share."""
