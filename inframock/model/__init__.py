"""The stacks as data: the resources, data-folder rules and services of each profile."""
