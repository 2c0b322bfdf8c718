"""The bottom layer: errors, settings, the console, files and the stack record,
which every other layer may use and which use none of them."""
