"""IAM / bucket / key policy documents as the policies see them: parsing and matching.

Pure functions. Documents arrive as JSON strings (what pulumi-aws stores) or as mappings;
statement fields may be a string or a list. IAM wildcards (``*``, ``?``) match
case-insensitively in actions and case-sensitively in resources, as IAM evaluates them.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any, Iterator, Mapping, Optional, Sequence


class InvalidDocument(ValueError):
    """A policy value that is not a JSON policy document."""


def parse(value: Any) -> Optional[dict[str, Any]]:
    """The document as a plain dict; ``None`` when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidDocument(f"not JSON: {exc.msg} at position {exc.pos}") from exc
    elif isinstance(value, Mapping):
        parsed = plain(value)
    else:
        raise InvalidDocument(f"expected a JSON string or an object, got {type(value).__name__}")
    if not isinstance(parsed, dict):
        raise InvalidDocument(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def plain(value: Any) -> Any:
    """Mappings and sequences (including pulumi_policy's read-only proxies) as dicts and lists."""
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(item) for item in value]
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping)):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def statements(document: Optional[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if not document:
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def allow_statements(document: Optional[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    return (s for s in statements(document) if s.get("Effect") == "Allow")


def _iam_match(pattern: str, value: str, *, ignore_case: bool) -> bool:
    # IAM has no character classes: escape "[" so fnmatch only interprets * and ?.
    regex = fnmatch.translate(pattern.replace("[", "[[]"))
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def action_matches(pattern: str, action: str) -> bool:
    return _iam_match(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    return _iam_match(pattern, resource, ignore_case=False)


def grants(document: Optional[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether an Allow statement names ``action`` on ``resource`` (conditions are not evaluated)."""
    for statement in allow_statements(document):
        if not any(action_matches(p, action) for p in as_list(statement.get("Action"))):
            continue
        if any(resource_matches(p, resource) for p in as_list(statement.get("Resource"))):
            return True
    return False
