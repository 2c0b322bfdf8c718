"""`States.Format` with escaped braces, as the API's HandleError state writes it.

The API's HandleError publishes `States.Format('<JSON with every { and }
escaped as \\{ and \\}>', $.errorInfo.Error)`: AWS reads `\\{`, `\\}` and `\\\\`
as literal characters and replaces each `{}` with the next argument. moto
5.2.5's interpreter keeps the backslashes (doubled: it does not undo the
definition's JSON escapes) and hands the template to Python's
`str.format`, which takes `{"taskName"...}` for a field name and fails
(`States.Runtime: '"taskName"'`), so a failed pipeline run never reaches the
API. Here the template is read as AWS reads it. tests/stack/test_stepfunctions.py
(`test_moto_still_misreads_escaped_braces`) tells when moto no longer needs it.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.generic import (  # pylint: disable=line-too-long
    string_format,
)

ESCAPED = {"{": "{", "}": "}", "\\": "\\", "'": "'"}
"""What follows a backslash in a States.Format template, and what it means."""


def format_template(template: str, values: list[str]) -> str:
    """`template` with each `{}` replaced by the next value and escapes undone."""
    out: list[str] = []
    given = iter(values)
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and i + 1 < len(template) and template[i + 1] in ESCAPED:
            out.append(ESCAPED[template[i + 1]])
            i += 2
        elif template.startswith("{}", i):
            out.append(next(given, ""))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def eval_format(self: Any, env: Any) -> None:
    """`StringFormat._eval_body`: States.Format evaluated as AWS does."""
    self.argument_list.eval(env=env)
    args = env.stack.pop()
    template = args[0]
    if isinstance(self.argument_list.arguments[0], string_format.ArgumentLiteral):
        # moto's parser reads the definition's JSON string without undoing
        # its escaped backslashes: the API's `\{` arrives here doubled.
        template = template.replace("\\\\", "\\")
    # pylint: disable-next=protected-access
    values = [string_format.StringFormat._to_str_repr(v) for v in args[1:]]
    env.stack.append(format_template(template, values))
