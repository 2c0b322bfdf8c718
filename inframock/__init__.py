"""inframock: the Biomage (Cellenics) AWS stack and Redis on a developer's machine."""
