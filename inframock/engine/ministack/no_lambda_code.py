"""No Lambda code runs on MiniStack: the endpoint is not a way to run programs.

Plain MiniStack runs a Lambda function's code as a process of the developer's
own account, and it checks no signature: any local account, and any web page
the developer opens (a `text/plain` POST is a request a page may send to any
origin unasked), can create a function and invoke it, that is, run any
program as the developer. The Cellenics stacks need no Lambda code to run on
this engine (the pipeline's launchers run natively on moto's road only), so
every invocation, by Invoke, Step Functions or SNS, fails as a function error
instead, with a `warning:` line in the stack's log.
"""

from __future__ import annotations

import sys
from typing import Any

REFUSED = (
    "inframock runs no Lambda code on MiniStack: anyone who reaches its port "
    "could run a program as you (pipeline runs need INFRAMOCK_ENGINE=moto)"
)


def refuse(func: dict[str, Any], *_: Any) -> dict[str, Any]:
    """Stands in for MiniStack's `_execute_function_dispatch` (every executor's
    one entry): the invocation's result is a function error."""
    config = func.get("config") or func
    name = config.get("FunctionName", "?")
    print(
        f"warning: refused to run Lambda function {name}: {REFUSED}",
        file=sys.stderr,
        flush=True,
    )
    return {
        "body": {"errorMessage": REFUSED, "errorType": "Runtime.InframockRefused"},
        "error": True,
        "function_error": "Unhandled",
        "log": "",
    }
