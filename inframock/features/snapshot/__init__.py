"""`make snapshot` / `make restore`: a stack's whole state on disk, per service."""
