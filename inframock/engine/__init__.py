"""The AWS engine process: moto's server, and the differences from AWS we fix.

`server` runs it; each other module owns one difference between moto and AWS
that a Cellenics client notices. Both roads run this same engine. The stack's
other side imports `protocol` alone: what it knows of the engine.
"""
