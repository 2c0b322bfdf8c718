"""The patch applied on the engine's first Lambda request: the launcher.

The `current` profile's provisioning creates the two pipeline launcher
functions, so its first Lambda request comes at every start; it needs only
this change, not the interpreter's (`stepfunctions`), whose import would
cost that start a quarter of a second and the engine about 30 MB.
`inframock.engine.stepfunctions.launcher` holds the replacement and says why.
"""

from __future__ import annotations

from inframock.engine.patching import MOTO, Patch, Source, wrap

_SF = "inframock.engine.stepfunctions"

LAUNCHER: tuple[Patch, ...] = (
    Patch(
        "lambda-native-launcher",
        "pipeline launcher Lambdas run natively",
        MOTO,
        (
            wrap(
                "moto.awslambda.models",
                "LambdaBackend.invoke",
                "708fb4c92029",
                f"{_SF}.launcher:invoke_native",
            ),
        ),
        reads=(
            Source(
                "moto.awslambda.models", "LambdaBackend.get_function", "3a27e326009f"
            ),
        ),
    ),
)
"""Applied on the engine's first Lambda or Step Functions request."""
