"""Everything inframock prints: where lines go, progress, and the views."""
