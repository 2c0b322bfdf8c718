"""The design's one-shot seeding container (docker-compose.yml's `populate`).

Only its Dockerfile and entry point live here; the seeding itself is
`inframock.features.seed`, the very code the embedded road runs.
"""
