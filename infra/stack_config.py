"""A stack's configuration, merged and checked the way the Pulumi CLI does before a program runs.

``pulumi preview`` / ``pulumi up`` merge ``Pulumi.<stack>.yaml`` over the project config
declared in ``Pulumi.yaml`` and stop *before the program runs* when the merge breaks the
project's rules. The offline runs (tests, the sandbox) must stop at the same place, or a
stack that the CLI refuses passes every test (issue 9, point 1). The rules, from the CLI's
``ValidateStackConfigAndApplyProjectConfig`` (pulumi/pulumi ``sdk/go/common/workspace``,
its tests in ``project_test.go``; the required-key rule is described in pulumi/pulumi#21797):

- A declared key with ``value`` or ``default`` takes it when the stack does not set the key.
- A declared key with neither is *required*: a stack without it fails with
  "Stack 'dev' is missing configuration value 'x'" (all missing keys in one message).
- A stack value of a typed key must have that type (string, integer, boolean,
  array of ``items``): "Stack 'dev' with configuration key 'x' must be of type 'integer'".
  The CLI keeps config as strings, so ``"20"`` is an integer and ``"true"`` a boolean.
- A key declared ``secret: true`` must be set as a ``secure:`` value in the stack
  ("... must be encrypted as it's secret"). ``secure:`` values are ciphertext: the CLI
  type-checks them after decrypting; offline we cannot decrypt, so they satisfy
  "required" and are handed on as :class:`SecureValue` (a run needs an override for them).
- Project-level: a key in another namespace (``aws:region``) may not declare a type or a
  default; a key may not have both ``default`` and ``value``; an array needs ``items``.

Stack files are read as YAML 1.2 (the CLI's Go YAML): only ``true``/``false`` are
booleans, ``yes``/``on`` stay strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from recovery_lib.errors import ConfigError

TYPES = ("string", "integer", "boolean", "array")


@dataclass(frozen=True)
class SecureValue:
    """A ``secure:`` stack value (ciphertext the CLI decrypts with the stack's secrets provider)."""

    ciphertext: str


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: ``yes``, ``no``, ``on``, ``off`` are strings."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def _quoted_list(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _type_name(spec: Mapping[str, Any]) -> str:
    if spec.get("type") == "array":
        return f"array<{(spec.get('items') or {}).get('type', '?')}>"
    return str(spec.get("type"))


def _matches(type_: str, items: Optional[Mapping[str, Any]], value: Any) -> bool:
    """The CLI's check of one stack value (which it holds as a string unless it is an object)."""
    primitive = isinstance(value, (str, int, float, bool))
    if type_ == "string":
        return primitive
    if type_ == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        return isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value) is not None
    if type_ == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_ == "array":
        return isinstance(value, list) and all(_matches(items["type"], items.get("items"), v) for v in value)
    return False


def _check_project(name: str, config: Mapping[str, Any]) -> None:
    for key, spec in config.items():
        if not isinstance(spec, Mapping):
            continue
        foreign = ":" in key and key.split(":", 1)[0] != name
        if foreign and "type" in spec:
            raise ConfigError(f"Configuration key '{key}' is not namespaced by the project and should not define a type")
        if foreign and "default" in spec:
            raise ConfigError(
                f"Configuration key '{key}' is not namespaced by the project and should not define a default value; "
                "use the 'value' attribute instead"
            )
        if "default" in spec and "value" in spec:
            raise ConfigError(f"project config '{key}' cannot have both a 'default' and 'value' attribute")
        type_ = spec.get("type")
        if type_ is not None and type_ not in TYPES:
            raise ConfigError(f"project config '{key}' has type {type_!r}; allowed: {', '.join(TYPES)}")
        if type_ == "array" and not isinstance(spec.get("items"), Mapping):
            raise ConfigError(
                f"The configuration key '{key}' declares an array but does not specify the underlying type via the 'items' attribute"
            )


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def merge_stack_config(project_doc: Mapping[str, Any], stack_doc: Mapping[str, Any], stack: str) -> dict[str, Any]:
    """Apply the CLI's rules; return fully qualified keys with YAML-typed (or SecureValue) values."""
    name = project_doc["name"]
    declared: Mapping[str, Any] = project_doc.get("config") or {}
    _check_project(name, declared)

    merged: dict[str, Any] = {}
    for key, value in ((stack_doc or {}).get("config") or {}).items():
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            value = SecureValue(str(value["secure"]))
        merged[_qualify(name, key)] = value

    missing: list[str] = []
    for key in sorted(declared):
        spec = declared[key]
        qualified = _qualify(name, key)
        if not isinstance(spec, Mapping):  # shorthand `key: value`
            merged.setdefault(qualified, spec)
            continue
        if qualified not in merged:
            if "value" in spec:
                merged[qualified] = spec["value"]
            elif "default" in spec:
                merged[qualified] = spec["default"]
            else:
                missing.append(key)
            continue
        stack_value = merged[qualified]
        if spec.get("secret") and not isinstance(stack_value, SecureValue):
            raise ConfigError(f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret")
        if "type" in spec and not isinstance(stack_value, SecureValue):
            if not _matches(spec["type"], spec.get("items"), stack_value):
                raise ConfigError(
                    f"Stack '{stack}' with configuration key '{key}' must be of type '{_type_name(spec)}', "
                    f"got {stack_value!r}"
                )
    if missing:
        noun = "value" if len(missing) == 1 else "values"
        raise ConfigError(
            f"Stack '{stack}' is missing configuration {noun} {_quoted_list(missing)}: Pulumi.yaml declares "
            f"{'it' if len(missing) == 1 else 'them'} without a default, so the Pulumi CLI requires "
            f"{'it' if len(missing) == 1 else 'them'} in every stack; set it in Pulumi.{stack}.yaml or give it a default"
        )
    return merged


def load_stack_config(stack: str, root: Path) -> dict[str, Any]:
    """``Pulumi.<stack>.yaml`` merged over ``Pulumi.yaml`` as the CLI merges and checks them."""
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        available = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise ConfigError(f"no stack file {stack_file.name}; stacks: {', '.join(available) or 'none'}")
    return merge_stack_config(read_yaml(root / "Pulumi.yaml"), read_yaml(stack_file) or {}, stack)
