"""Settings sources, secret redaction and JSON logs for Panel's services.

- `ServiceSettings` + `load`: environment, `<NAME>_FILE` secrets and a YAML overlay through
  pydantic-settings sources; every problem one line naming the variable and the fix (`SettingsError`,
  exit code `EXIT_CONFIG` = 2 via `exit_with`).
- `scrub`, `redact_url`, `register_secret`: passwords, tokens and registered secrets masked.
- `configure_logging`: JSON lines on stderr, scrubbed, with the service's request-id fields.
"""

from .base import ServiceSettings, describe, load, register_secrets
from .errors import EXIT_CONFIG, SettingsError, exit_with
from .fields import CommaList, split_commas
from .logs import configure_logging, json_handler
from .redact import MASK, SecretRegistry, redact_url, register_secret, scrub, secrets
from .sources import EnvironmentSource, SecretFilesSource, YamlFileSource, parse_yaml_mapping

__all__ = [
    "EXIT_CONFIG",
    "MASK",
    "CommaList",
    "EnvironmentSource",
    "SecretFilesSource",
    "SecretRegistry",
    "ServiceSettings",
    "SettingsError",
    "YamlFileSource",
    "configure_logging",
    "describe",
    "exit_with",
    "json_handler",
    "load",
    "parse_yaml_mapping",
    "redact_url",
    "register_secret",
    "register_secrets",
    "scrub",
    "secrets",
    "split_commas",
]
