"""`ServiceSettings`, the base of each service's settings class, and `load`, which reads and validates it.

A service declares its fields and says, in four class variables, where they come from:

    class Settings(ServiceSettings):
        model_config = SettingsConfigDict(extra="forbid")
        config_file_variable = "BACKUP_CONFIG_FILE"  # optional YAML overlay
        environment_fields = None                    # every field from the environment (default)
        file_fields = frozenset({"database_url"})    # which also read <NAME>_FILE (default: all)
        secret_fields = frozenset({"database_url"})  # never echoed, masked in logs (+ SecretStr)

Precedence, highest first: `load(**overrides)` (init arguments), the environment, `<NAME>_FILE`,
the YAML file, the field defaults.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import SecretBytes, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import SettingsError
from .redact import scrub, secrets
from .sources import (
    FILE_SUFFIX,
    EnvironmentSource,
    Problems,
    SecretFilesSource,
    YamlFileSource,
    env_names,
    field_key,
    loading_from,
)

S = TypeVar("S", bound="ServiceSettings")
MAX_ECHO = 60  # characters of a rejected (non-secret) value repeated in its error line


class ServiceSettings(BaseSettings):
    """Base class: wires the library's sources and says which fields are secret.

    Class variables (not settings):
    - ``environment_fields``: fields read from the environment; None (default) reads every field.
    - ``file_fields``: fields that also read ``<NAME>_FILE``; None (default) means every environment field.
    - ``secret_fields``: fields never repeated in an error and registered for redaction when loaded;
      fields typed ``SecretStr``/``SecretBytes`` are secret without being listed.
    - ``config_file_variable``: the environment variable naming an optional YAML overlay.
    - ``settings_docs``: where the settings are documented (named in "unknown setting" errors).
    """

    model_config = SettingsConfigDict(case_sensitive=False)

    environment_fields: ClassVar[frozenset[str] | None] = None
    file_fields: ClassVar[frozenset[str] | None] = None
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    config_file_variable: ClassVar[str | None] = None
    settings_docs: ClassVar[str] = "the service's README"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for attribute in ("environment_fields", "file_fields", "secret_fields"):
            unknown = sorted(set(getattr(cls, attribute) or ()) - set(cls.model_fields))
            if unknown:
                raise TypeError(f"{cls.__name__}.{attribute} names fields it does not have: {unknown}")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = SecretFilesSource(settings_cls, cls.ordered(cls.fields_with_file_form()))
        return (
            init_settings,
            EnvironmentSource(settings_cls, cls.environment_fields, files.file_variables()),
            files,
            YamlFileSource(settings_cls, cls.config_file_variable),
        )

    @classmethod
    def fields_from_environment(cls) -> frozenset[str]:
        return frozenset(cls.model_fields) if cls.environment_fields is None else cls.environment_fields

    @classmethod
    def fields_with_file_form(cls) -> frozenset[str]:
        wanted = cls.fields_from_environment() if cls.file_fields is None else cls.file_fields
        return wanted & cls.fields_from_environment()

    @classmethod
    def file_variables(cls) -> dict[str, str]:
        """``{field name: <NAME>_FILE}`` for every field with a file form (for docs and `--help`)."""
        return SecretFilesSource(cls, cls.ordered(cls.fields_with_file_form())).file_variables()

    @classmethod
    def ordered(cls, names: frozenset[str]) -> list[str]:
        """``names`` in declaration order (problems are reported in the order the fields are declared)."""
        return [name for name in cls.model_fields if name in names]

    @classmethod
    def secret_field_names(cls) -> frozenset[str]:
        typed = {name for name, info in cls.model_fields.items() if _is_secret_type(info.annotation)}
        return frozenset(typed) | cls.secret_fields

    @classmethod
    def display_name(cls, field_name: str) -> str:
        """How errors name a field: its environment variable, or its name when it is file-only."""
        if field_name in cls.fields_from_environment():
            return env_names(cls, field_name)[0]
        return field_name


def _is_secret_type(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_secret_type(arg) for arg in typing.get_args(annotation))
    return False


def _field_for(settings_cls: type[ServiceSettings], key: str) -> str | None:
    """The field a validation error's first location names (a field name or one of its aliases)."""
    if key in settings_cls.model_fields:
        return key
    folded = key.lower()
    for name in settings_cls.model_fields:
        if folded in (
            alias.lower() for alias in (*env_names(settings_cls, name), field_key(settings_cls, name))
        ):
            return name
    return None


def _echo(value: Any) -> str:
    """The rejected value, shortened and scrubbed: a URL setting that is not secret as a whole (the
    panel's address) may still carry a password or a token in its userinfo or query string."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and value):
        text = scrub(repr(value))
        return f" (got {text[:MAX_ECHO]}{'...' if len(text) > MAX_ECHO else ''})"
    return ""


def describe(
    settings_cls: type[ServiceSettings], error: ValidationError, problems: Problems | None = None
) -> list[str]:
    """One line per validation error: the variable (or file key) that is wrong, what is wrong, the fix.

    Secret fields never have their value repeated. Errors about fields whose source already failed
    (``problems``) are left out: the source's line says what to fix.
    """
    lines: list[str] = []
    secret = settings_cls.secret_field_names()
    config = settings_cls.config_file_variable
    for detail in error.errors():
        lines.extend(_describe_one(settings_cls, detail, secret, config, problems))
    return list(dict.fromkeys(lines))  # one error can be reported for two aliases of one field


def _describe_one(
    settings_cls: type[ServiceSettings],
    detail: ErrorDetails,
    secret: frozenset[str],
    config: str | None,
    problems: Problems | None,
) -> list[str]:
    loc = [str(part) for part in detail["loc"]]
    message = str(detail["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if not loc:  # a model validator: its message may hold several lines, one problem each
        return [line for line in message.splitlines() if line.strip()]
    field_name = _field_for(settings_cls, loc[0])
    if problems is not None and (
        field_name in problems.fields or (problems.whole_file and detail["type"] == "missing")
    ):
        return []
    head = settings_cls.display_name(field_name) if field_name else loc[0]
    where = ".".join([head, *loc[1:]])
    if detail["type"] == "extra_forbidden":
        source = f" in {config}" if config else ""
        return [f"{where}: unknown setting{source}; check its spelling against {settings_cls.settings_docs}"]
    if detail["type"] == "missing" and len(loc) == 1 and field_name:
        file_form = f" or {where}{FILE_SUFFIX}" if field_name in settings_cls.fields_with_file_form() else ""
        return [f"{where}: required; set {where}{file_form}"]
    echo = "" if field_name in secret else _echo(detail.get("input"))
    return [f"{where}: {message}{echo}"]


def load(
    settings_cls: type[S],
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    **overrides: Any,
) -> S:
    """Read and validate ``settings_cls`` from ``environ`` (default: the process environment), the YAML
    file ``config_file`` (default: the one ``config_file_variable`` names) and ``overrides``.

    Raises `SettingsError` listing every problem, one line each. On success every secret value is
    registered for redaction (`service_settings.scrub`, the JSON logs).
    """
    problems = Problems()
    path = None if config_file is None else str(config_file)
    validation: list[str] = []
    settings: S | None = None
    with loading_from(environ, path, problems):
        try:
            settings = settings_cls(**overrides)
        except ValidationError as exc:
            validation = describe(settings_cls, exc, problems)
    if problems.lines or validation or settings is None:
        raise SettingsError([*problems.lines, *validation] or ["invalid settings"])
    register_secrets(settings)
    return settings


def register_secrets(settings: ServiceSettings) -> None:
    """Register the value of every secret field (URLs: the whole URL and its password) for redaction."""
    for name in type(settings).secret_field_names():
        _register(getattr(settings, name))


def _register(value: Any) -> None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    elif isinstance(value, SecretBytes):
        value = value.get_secret_value().decode("utf-8", "replace")
    if isinstance(value, str):
        if "://" in value:
            secrets.add_url(value)
        else:
            secrets.add(value)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _register(item)
