"""The second AWS engine (INFRAMOCK_ENGINE=ministack): MiniStack's own server,
behind inframock's trust boundary.

MiniStack is not moto: none of inframock.engine's moto modules applies to it.
It runs in a virtualenv of its own (it pins an older botocore than ours),
with the checkout on PYTHONPATH so that this package and `guard` (standard
library only) import there. Each difference of MiniStack from AWS or
Cellenics that inframock fixes is one module here, wired in by `__main__`;
the ones not fixed yet are listed in docs/engine.md with their tripwires.
"""
