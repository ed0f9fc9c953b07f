"""Widgets, grouped by the region of the screen they draw."""
