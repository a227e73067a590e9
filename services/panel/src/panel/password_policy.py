"""What a new password must be (NIST SP 800-63B, section 3.1.1.2), checked wherever one is set.

- 12 to 256 characters (NIST: at least 8, and at least 64 allowed; 12 is this panel's floor);
  every printable character and space allowed, no composition rules.
- No control characters (NUL, newlines, escapes: nothing a person types into a password field).
- Not a commonly used or breached password: the 30,000 most common passwords of the leaked-password
  corpus that ships with the ``zxcvbn`` package (offline, maintained), compared case-insensitively.
- Not repetitive, sequential or keyboard patterns, common words or names with trivial changes:
  zxcvbn's guess estimate must reach score 3 (about 10^8 guesses or more).
- Not containing the username (case-insensitive), when there is one.

``problems`` returns one line per failed rule, each naming what to change; the API reports them as
422 field errors, ``panel create-admin`` as a usage error.
"""

from __future__ import annotations

import unicodedata

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn: 0 too guessable ... 4 very unguessable
_SCORED_PREFIX = 100  # zxcvbn's matching is quadratic in the length; the first 100 characters decide
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])


def problems(password: str, username: str | None = None) -> list[str]:
    if len(password) < MIN_LENGTH:
        return [f"use at least {MIN_LENGTH} characters (a passphrase of several words is easiest)"]
    if len(password) > MAX_LENGTH:
        return [f"use at most {MAX_LENGTH} characters"]
    found: list[str] = []
    if any(unicodedata.category(char) == "Cc" for char in password):
        found.append("remove control characters (NUL, tabs, newlines)")
    lowered = password.lower()
    if username and len(username) >= 3 and username.lower() in lowered:
        found.append("do not put the username in the password")
    if lowered in _COMMON or lowered.strip() in _COMMON:
        found.append("this is a commonly used password found in breaches; choose another")
    elif not found:
        inputs = [username] if username else []
        if zxcvbn(password[:_SCORED_PREFIX], user_inputs=inputs)["score"] < MIN_SCORE:
            found.append(
                "too easy to guess (repeated characters, a sequence, a keyboard pattern or a common "
                "word); use a longer passphrase"
            )
    return found
