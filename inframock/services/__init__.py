"""The services of the stack, each declared once (`base.Declaration`) in a
module of its own; the roads, status, banners and `make env` iterate over
the profile's (`registry.services_for`) and never name one."""
