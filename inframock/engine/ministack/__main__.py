"""`python -m inframock.engine.ministack HOST PORT`: MiniStack's app served by
hypercorn, as `python -m ministack` serves it, behind `guard.AsgiGuard` and
`s3_cors.S3Cors`.

Run with MiniStack's virtualenv's Python (inframock/services/engines/ministack.py
starts it); MiniStack reads its settings (GATEWAY_PORT, MINISTACK_ACCOUNT_ID,
MINISTACK_REGION, SERVICES, LOG_LEVEL) from the environment as it is imported,
so they are set before this runs; inframock's changes to it (`patches`) are
made before it serves. SIGTERM stops it at once and cleanly: the
port closes, nothing is saved (MiniStack keeps nothing on this road).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import signal
import sys

# MiniStack's virtualenv has them, .venv (where pylint runs) does not.
from hypercorn.asyncio import serve  # pylint: disable=import-error
from hypercorn.config import Config  # pylint: disable=import-error

from inframock.engine.guard import Boundary, secret
from inframock.engine.ministack.guard import AsgiGuard
from inframock.engine.ministack.patches import PATCHES
from inframock.engine.ministack.s3_cors import S3Cors
from inframock.engine.patching import apply_checked


async def _serve(host: str, port: int) -> None:
    # pylint: disable-next=import-outside-toplevel,import-error
    from ministack.app import app  # reads its settings from the environment

    apply_checked(PATCHES, importlib.metadata.version("ministack"))

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.keep_alive_timeout = 75
    config.loglevel = os.environ.get("LOG_LEVEL", "WARNING")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    guarded = AsgiGuard(S3Cors(app), Boundary(host, secret()))
    await serve(guarded, config, shutdown_trigger=stopping.wait)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2])))
