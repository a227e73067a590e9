"""The one exception every settings problem becomes, and the exit code the services give it."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn, TextIO

# Every service exits 2 on invalid configuration (documented in each README and in CONTRIBUTING.md).
EXIT_CONFIG = 2


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on (newline, escape, ...) written as an
    escape, so that a problem stays one line whatever a file name or a YAML key holds."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class SettingsError(Exception):
    """The configuration is invalid; ``problems``: one printable line per problem, each naming the fix."""

    def __init__(self, problems: Iterable[str] | str) -> None:
        lines = [problems] if isinstance(problems, str) else list(problems)
        self.problems = [printable(line) for line in lines]
        super().__init__("\n".join(self.problems))


def exit_with(error: SettingsError, program: str, stream: TextIO | None = None) -> NoReturn:
    """Print ``<program>: configuration error: <problem>`` per problem on stderr, then exit 2.

    No traceback: every problem already names the variable and the fix.
    """
    out = stream if stream is not None else sys.stderr
    for problem in error.problems:
        print(f"{program}: configuration error: {problem}", file=out)
    raise SystemExit(EXIT_CONFIG)
