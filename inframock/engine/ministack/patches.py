"""The registry of inframock's changes to MiniStack, in the order applied.

The same `Patch` as moto's registry (inframock.engine.patching): each with
the MiniStack release and the fingerprint of MiniStack's code it was checked
against, so a new release that changes that code names the patch
(tests/engine/test_ministack.py). Applied by `__main__` before the first
request; replacements live in the module of their difference.
"""

from __future__ import annotations

from inframock.engine.patching import Patch, Source, put, wrap
from inframock.engine.protocol import MINISTACK_RELEASE as MINISTACK

_SNS = "ministack.services.sns"
_LAMBDA = "ministack.services.lambda_svc"
_APP = "ministack.app"
_S3 = "ministack.services.s3"

PATCHES: tuple[Patch, ...] = (
    Patch(
        "ministack-no-lambda-code",
        "no Lambda code runs: the port is no way to run programs as you",
        MINISTACK,
        (
            put(
                _LAMBDA,
                "_execute_function_dispatch",
                "f62cd259213e",
                "inframock.engine.ministack.no_lambda_code:refuse",
            ),
        ),
        # Every executor is reached through it, from here alone.
        reads=(Source(_LAMBDA, "_execute_function", "3ceb16d6480a"),),
        engine="MiniStack",
    ),
    Patch(
        "ministack-sns-confirmed",
        "HTTP/S subscriptions deliver at once, unconfirmed (as moto's)",
        MINISTACK,
        (
            put(
                _SNS,
                "_send_subscription_confirmation",
                "dd409e626068",
                "inframock.engine.ministack.sns_confirmed:confirm_at_once",
            ),
            wrap(
                _SNS,
                "_subscribe",
                "db260c543268",
                "inframock.engine.ministack.sns_confirmed:answer_its_arn",
            ),
        ),
        reads=(
            Source(_SNS, "_topic_by_arn_any_scope", "419963ad2e7d"),
            Source(_SNS, "_refresh_subscription_counts", "cbba9c55348f"),
            Source(_SNS, "_p", "4fea18546662"),
        ),
        engine="MiniStack",
    ),
    Patch(
        "ministack-sns-retries",
        "SNS HTTP/S deliveries retried by the delivery policy",
        MINISTACK,
        (
            put(
                _SNS,
                "_deliver_to_http",
                "6a61d4bda532",
                "inframock.engine.ministack.sns_delivery:deliver_later",
            ),
        ),
        reads=(
            Source(_SNS, "_http_post_sync", "82c13af9f175"),
            Source(_SNS, "_topic_by_arn_any_scope", "419963ad2e7d"),
        ),
        engine="MiniStack",
    ),
    Patch(
        "ministack-sigv2-presigned",
        "a SigV2 presigned URL is signed (2021 API's downloadData)",
        MINISTACK,
        (
            wrap(
                _S3,
                "_reject_response_overrides_if_unsigned",
                "be4e5a577a4e",
                "inframock.engine.ministack.sigv2_presigned:signed_by_sigv2_too",
            ),
        ),
        engine="MiniStack",
    ),
    Patch(  # no change of MiniStack's code: s3_cors.S3Cors in front of its app
        "ministack-s3-cors",
        "S3 CORS by the bucket's rules, not `*` for every origin",
        MINISTACK,
        (),
        reads=(
            Source(_APP, "_handle_options_request", "68d385e7ee18"),
            Source(_APP, "_s3_cors_target", "c67dcb79912b"),
            Source(_S3, "cors_preflight", "af904eebfd93"),
            Source(_S3, "cors_response_headers", "d37cd83b82b7"),
        ),
        engine="MiniStack",
    ),
)
