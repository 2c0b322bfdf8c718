"""Seeding a running stack: provision its resources, then load the data folder."""
