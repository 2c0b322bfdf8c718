"""The data folder: what is in it, whether it changed, and files written whole."""
