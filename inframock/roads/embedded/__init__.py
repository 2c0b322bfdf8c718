"""The embedded road: the stack as supervised child processes of `make run`."""
