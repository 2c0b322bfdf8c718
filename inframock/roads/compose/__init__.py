"""The Docker road: the stack as a Docker Compose project (docker-compose.yml).

`road.py` is the road behind the Road interface; `project.py` the project's
name, profiles and exact Compose arguments; `up.py` `make run` in the
foreground and its banner; `probes.py` the quick questions to Docker and
Compose. Which road a command takes is `roads/choice.py`.
"""
