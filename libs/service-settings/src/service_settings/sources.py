"""pydantic-settings sources: the environment, `<NAME>_FILE` secrets and an optional YAML overlay.

Each source is a `PydanticBaseSettingsSource`, so a service wires them in `settings_customise_sources`
(`ServiceSettings` does it for you). Every source collects all of its problems and raises one
`SettingsError` with one line per problem, so a bad deployment is fixed in one go.

The environment the sources read is `os.environ`, or the mapping given to `service_settings.load`
(tests, `panel check-config`), carried in a context variable so that no source reads the process
environment behind the caller's back.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    YamlConfigSettingsSource,
)

from .errors import SettingsError
from .files import MAX_CONFIG_FILE_BYTES, read_text, read_value

FILE_SUFFIX = "_FILE"
# A YAML overlay expands to at most this many values once its aliases (*anchor) are followed: more
# is an alias bomb, not a configuration, and validating it would hang the start.
MAX_CONFIG_VALUES = 100_000


@dataclass
class Problems:
    """What the sources found wrong during one `load`, reported together with the validation errors."""

    lines: list[str] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)  # fields whose value could not be read
    whole_file: bool = False  # the YAML file could not be read at all


@dataclass(frozen=True)
class _LoadContext:
    environ: Mapping[str, str] | None
    config_file: str | None
    problems: Problems | None  # None: outside `load`, each source raises its own problems


_OUTSIDE_LOAD = _LoadContext(environ=None, config_file=None, problems=None)
_CONTEXT: ContextVar[_LoadContext | None] = ContextVar("service_settings_load", default=None)


def _context() -> _LoadContext:
    return _CONTEXT.get() or _OUTSIDE_LOAD


@contextmanager
def loading_from(
    environ: Mapping[str, str] | None, config_file: str | None, problems: Problems | None = None
) -> Iterator[None]:
    """Within this block the sources read ``environ`` (None: os.environ) and ``config_file``, and
    add what they find wrong to ``problems`` instead of raising (so that `load` reports everything)."""
    token = _CONTEXT.set(_LoadContext(environ=environ, config_file=config_file, problems=problems))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _report(lines: list[str], fields: Collection[str], whole_file: bool = False) -> None:
    """Hand a source's problems to the running `load`, or raise them when there is none."""
    if not lines:
        return
    problems = _context().problems
    if problems is None:
        raise SettingsError(lines)
    problems.lines.extend(lines)
    problems.fields.update(fields)
    problems.whole_file = problems.whole_file or whole_file


def current_environ() -> Mapping[str, str]:
    environ = _context().environ
    return os.environ if environ is None else environ


def current_config_file() -> str | None:
    return _context().config_file


def env_names(settings_cls: type[BaseSettings], field_name: str) -> list[str]:
    """The environment variable names that set ``field_name``, the canonical one first.

    An alias (``validation_alias="X"`` or ``AliasChoices("X", ...)``) names the variable as written;
    otherwise it is ``env_prefix`` + the field name, upper-cased unless the settings are case-sensitive.
    """
    field = settings_cls.model_fields[field_name]
    alias = field.validation_alias if field.validation_alias is not None else field.alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    name = str(settings_cls.model_config.get("env_prefix", "")) + field_name
    return [name if settings_cls.model_config.get("case_sensitive", False) else name.upper()]


def field_key(settings_cls: type[BaseSettings], field_name: str) -> str:
    """The key a source returns for ``field_name``: its first alias, else its name."""
    field = settings_cls.model_fields[field_name]
    alias = field.validation_alias if field.validation_alias is not None else field.alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return field_name


def _lookup(settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> Mapping[str, str]:
    if settings_cls.model_config.get("case_sensitive", False):
        return environ
    return {key.upper(): value for key, value in environ.items()}


def _key(settings_cls: type[BaseSettings], name: str) -> str:
    return name if settings_cls.model_config.get("case_sensitive", False) else name.upper()


def _is_text(value: str) -> bool:
    """False for a value that was not valid UTF-8 in the environment (Python keeps such bytes as
    lone surrogates, which cannot be written to a log, a file or a socket later)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading the load's environment and only ``fields``.

    ``fields`` None reads every field. A service that takes most settings from a file reads only a
    few variables, so that an unrelated variable can never change a threshold by accident.
    Values that are not valid UTF-8 and complex values that are not valid JSON are reported, one
    line each, instead of failing deep inside a library later. An empty variable whose file form
    (``file_variables``: field name -> `<NAME>_FILE`) is set yields to the file.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        fields: Collection[str] | None = None,
        file_variables: Mapping[str, str] | None = None,
    ) -> None:
        self._fields = None if fields is None else frozenset(fields)
        self._file_variables = dict(file_variables or {})
        self._problems: list[str] = []
        self._problem_fields: set[str] = set()
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = current_environ()
        values: dict[str, str | None] = {}
        for name, value in environ.items():
            key = name if self.case_sensitive else name.lower()
            if self.env_ignore_empty and value == "":
                continue
            values[key] = None if value == self.env_parse_none_str else value
        return values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if self._fields is not None and field_name not in self._fields:
            return None, field_name, False
        value, key, is_complex = super().get_field_value(field, field_name)
        if value == "" and field_name in self._file_variables:
            variable = _key(self.settings_cls, self._file_variables[field_name])
            if _lookup(self.settings_cls, current_environ()).get(variable):
                return None, key, is_complex
        if isinstance(value, str) and not _is_text(value):
            name = env_names(self.settings_cls, field_name)[0]
            self._problems.append(f"{name}: the value is not valid UTF-8; set it as UTF-8 text")
            self._problem_fields.add(field_name)
            return None, key, False
        return value, key, is_complex

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except ValueError:
            name = env_names(self.settings_cls, field_name)[0]
            self._problems.append(
                f'{name}: not valid JSON; write it as JSON (e.g. ["a", "b"] for a list, {{"k": 1}} for a map)'
            )
            self._problem_fields.add(field_name)
            return None

    def __call__(self) -> dict[str, Any]:
        self._problems, self._problem_fields = [], set()
        values = super().__call__()
        _report(self._problems, self._problem_fields)
        return values


class SecretFilesSource(PydanticBaseSettingsSource):
    """`<NAME>_FILE`: the path of a file holding the value of `<NAME>` (Kubernetes mounts secrets as
    files, which keeps them out of the environment, `ps` and crash dumps).

    - The file's text, surrounding whitespace removed, is the value; it is read once, at load.
    - `<NAME>` and `<NAME>_FILE` both set (non-empty) is an error: nobody can tell which one is meant.
      An empty `<NAME>` or `<NAME>_FILE` counts as unset (charts often render `value: ""`).
    - Missing, unreadable, not a regular file, empty, over 64 KiB, not UTF-8 or with a NUL byte:
      an error naming `<NAME>_FILE` and the fix.
    - When `<NAME>_FILE` is itself the variable of another field (backup's
      `BACKUP_AGE_RECIPIENTS_FILE`), that field owns the name and `<NAME>` has no file form.
    """

    def __init__(self, settings_cls: type[BaseSettings], fields: Collection[str]) -> None:
        super().__init__(settings_cls)
        self._fields = tuple(fields)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ reads every field at once (the base class requires the method).
        return None, field_name, False

    def file_variables(self) -> dict[str, str]:
        """``{field name: its <NAME>_FILE variable}`` for the fields that have a file form."""
        owned = {
            _key(self.settings_cls, name)
            for field_name in self.settings_cls.model_fields
            for name in env_names(self.settings_cls, field_name)
        }
        variables = {}
        for field_name in self._fields:
            variable = env_names(self.settings_cls, field_name)[0] + FILE_SUFFIX
            if _key(self.settings_cls, variable) not in owned:
                variables[field_name] = variable
        return variables

    def __call__(self) -> dict[str, Any]:
        environ = _lookup(self.settings_cls, current_environ())
        values: dict[str, Any] = {}
        problems: list[str] = []
        failed: set[str] = set()
        for field_name, variable in self.file_variables().items():
            path = environ.get(_key(self.settings_cls, variable), "")
            if not path:
                continue
            direct = [
                name
                for name in env_names(self.settings_cls, field_name)
                if environ.get(_key(self.settings_cls, name))
            ]
            if direct:
                problems.append(f"{direct[0]} and {variable} are both set; unset one of them")
                failed.add(field_name)
                continue
            try:
                values[field_key(self.settings_cls, field_name)] = read_value(path, variable)
            except ValueError as exc:
                problems.append(str(exc))
                failed.add(field_name)
        _report(problems, failed)
        return values


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one
    silently, so a duplicated setting would hide the one the operator meant)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # an unhashable key (a list); construct_mapping reports it properly
            continue
        if first != key_node.start_mark.line + 1:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice (first at line {first}); keep one",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_size(value: Any, sizes: dict[int, int]) -> int:
    """How many values ``value`` holds with every YAML alias followed (memoised, so a bomb is cheap)."""
    known = sizes.get(id(value))
    if known is not None:
        return known
    if isinstance(value, dict):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in value.items())
    elif isinstance(value, list):
        size = 1 + sum(_expanded_size(item, sizes) for item in value)
    else:
        size = 1
    sizes[id(value)] = size
    return size


def _all_text(value: Any) -> bool:
    """No string in ``value`` holds a lone surrogate (YAML's "\\ud800" escape makes one; it cannot be
    written to a log, a file or a socket later)."""
    if isinstance(value, str):
        return _is_text(value)
    if isinstance(value, dict):
        return all(_all_text(k) and _all_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_text(item) for item in value)
    return True


def parse_yaml_mapping(text: str, where: str) -> dict[str, Any]:
    """The top-level mapping of a YAML document; ValueError with one line naming ``where`` and the fix."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise ValueError(f"{where}: not valid YAML{at} ({problem}); fix the syntax") from None
    except RecursionError:
        raise ValueError(f"{where}: nested too deeply to be a configuration; flatten it") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{where}: the top level must be a mapping of setting: value, not a {type(data).__name__}"
        )
    if _expanded_size(data, {}) > MAX_CONFIG_VALUES:
        raise ValueError(
            f"{where}: expands to more than {MAX_CONFIG_VALUES} values through its aliases; "
            "write the values out"
        )
    if not _all_text(data):
        raise ValueError(
            f"{where}: a string holds an escaped surrogate (\\uD800-\\uDFFF) that is not a character; "
            "write the character itself"
        )
    not_names = [key for key in data if not isinstance(key, str)]
    if not_names:
        raise ValueError(f"{where}: top-level key {not_names[0]!r} is not a setting name; check the file")
    return data


class YamlFileSource(YamlConfigSettingsSource):
    """A YAML file of `setting: value` (nested sections as mappings), named by an environment variable
    (``variable``, e.g. `BACKUP_CONFIG_FILE`) or given to `load(config_file=...)` (a `--config` option).

    Keys match like init arguments: field names, or the field's aliases when the settings allow
    population by name, case-insensitively unless the settings are case-sensitive. Unknown keys reach
    validation, where `extra="forbid"` reports them. The variable set but the file unreadable, not
    UTF-8, over 1 MiB, not valid YAML, not a mapping or with a duplicated key: one line naming the fix.
    """

    def __init__(self, settings_cls: type[BaseSettings], variable: str | None) -> None:
        self.variable = variable
        path = current_config_file()
        self.label = "the configuration file"
        if path is None and variable is not None:
            path = _lookup(settings_cls, current_environ()).get(_key(settings_cls, variable)) or None
            self.label = variable
        self.path = path
        super().__init__(settings_cls, yaml_file=path)

    def _read_files(self, files: Any, deep_merge: bool = False) -> dict[str, Any]:
        if not self.path:
            return {}
        try:
            text = read_text(
                self.path,
                self.label,
                limit=MAX_CONFIG_FILE_BYTES,
                fix=f"point {self.label} at an existing YAML file",
            )
            return parse_yaml_mapping(text, f"{self.label} ({self.path})")
        except ValueError as exc:
            _report([str(exc)], (), whole_file=True)
            return {}

    def _read_file(self, path: Any) -> dict[str, Any]:  # pragma: no cover - _read_files does the reading
        raise NotImplementedError
