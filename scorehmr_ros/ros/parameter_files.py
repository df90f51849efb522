"""The nodes' parameter YAML read without ROS: ``--params-file`` files -> the core's config dataclasses.

A ROS 2 parameter file maps node names to ``ros__parameters``; parameter names nest as mappings
or as dotted keys (``tracking: {prediction_timeout_s: 1.0}`` and ``tracking.prediction_timeout_s: 1.0``
are the same parameter)::

    scorehmr:                  # also /scorehmr, /<namespace>/scorehmr, or /** for every node
      ros__parameters:
        tracking:
          prediction_timeout_s: 2.0

Each node's parameters are the groups it declares (``nodes/*_node.py`` ``PARAMETERS``: a prefix and a
config dataclass each). :func:`group_config` builds a group's dataclass from parameter values exactly
as the node does from its declared parameters (defaults from the dataclass, then ``validate()``), so
a value the node would refuse is refused here too, and every default lives once, in the dataclass.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

#: The key under a node's name that holds its parameters.
ROS_PARAMETERS = "ros__parameters"
#: Node-name wildcard of ROS parameter files (the parameters apply to every node that declares them).
WILDCARD = "**"


class ParameterFileError(ValueError):
    """A parameter file (or value) the nodes would refuse; the message names the file, node and key."""


def flatten_parameters(tree: Mapping[str, Any], *, where: str, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and dotted keys -> {dotted parameter name: value}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str) or not key:
            raise ParameterFileError(f"{where}: parameter names must be non-empty strings, got {key!r}")
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(flatten_parameters(value, where=where, prefix=name))
        elif name in flat:
            raise ParameterFileError(f"{where}: parameter {name!r} is given twice")
        else:
            flat[name] = value
    return flat


def _node_of(section_name: str) -> str:
    """``/ns/scorehmr`` -> ``scorehmr``; ``/**`` (any namespace) -> ``**``."""
    return str(section_name).strip("/").rsplit("/", 1)[-1]


def read_parameter_file(path: str | Path, declared: Mapping[str, set[str]]) -> dict[str, dict[str, Any]]:
    """The parameters a ROS 2 parameter file sets, by node: {node name: {parameter name: value}}.

    Args:
        declared: node name -> every parameter it declares (``nodes.registry.declared_parameters()``).
    Raises:
        ParameterFileError: unreadable file, not a parameter file, an unknown node, or a key no node of that
            section declares (named with the file).
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterFileError(f"{path}: cannot read the parameter file ({error})") from None
    except yaml.YAMLError as error:
        raise ParameterFileError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ParameterFileError(f"{path}: expected node names with {ROS_PARAMETERS}, got {type(document).__name__}")
    result: dict[str, dict[str, Any]] = {}
    for section_name, section in document.items():
        node = _node_of(section_name)
        where = f"{path}: {section_name}"
        if node != WILDCARD and node not in declared:
            raise ParameterFileError(f"{where}: unknown node {node!r} (known: {', '.join(sorted(declared))}, or /**)")
        if not isinstance(section, Mapping) or set(section) != {ROS_PARAMETERS}:
            raise ParameterFileError(f"{where}: expected exactly one key {ROS_PARAMETERS!r} with the parameters")
        parameters = flatten_parameters(section[ROS_PARAMETERS] or {}, where=where)
        targets = sorted(declared) if node == WILDCARD else [node]
        for name, value in parameters.items():
            owners = [target for target in targets if name in declared[target]]
            if not owners:
                known = sorted(set().union(*(declared[target] for target in targets)))
                raise ParameterFileError(f"{where}: unknown parameter {name!r} (known: {', '.join(known)})")
            for owner in owners:
                result.setdefault(owner, {})[name] = value
    return result


def typed_value(hint: Any, value: Any, name: str) -> Any:
    """A YAML value as the config field's type wants it (lists -> tuples, integers for floats), else an error."""
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, (list, tuple)):
            raise ParameterFileError(f"{name}: expected a list of {item.__name__}, got {value!r}")
        return tuple(typed_value(item, element, name) for element in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool) or not isinstance(value, hint):
        raise ParameterFileError(f"{name}: expected {hint.__name__}, got {value!r}")
    return value


def field_default(field: dataclasses.Field) -> Any:
    """A field's default value (its factory called), or None where it has none."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def build_config(config_class: type, prefix: str, values: Mapping[str, Any], overrides: Mapping[str, Any],
           base: Any = None) -> Any:
    """``config_class`` from the values by full name; a field without a value keeps ``base``'s (the enclosing
    config's default for a nested config, e.g. ``StreamingConfig.ik`` is Levenberg-Marquardt where a bare
    ``IKConfig()`` is Adam), else its own default."""
    hints = typing.get_type_hints(config_class)
    arguments = {}
    for field in dataclasses.fields(config_class):
        if field.name in overrides:
            arguments[field.name] = overrides[field.name]
            continue
        name = f"{prefix}.{field.name}" if prefix else field.name
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            nested_base = getattr(base, field.name) if base is not None else field_default(field)
            arguments[field.name] = build_config(hint, name, values, {}, nested_base)
        elif name in values:
            arguments[field.name] = typed_value(hint, values[name], name)
        elif base is not None:
            arguments[field.name] = getattr(base, field.name)
    config = config_class(**arguments)
    validate = getattr(config, "validate", None)
    return (validate() or config) if validate is not None else config


def group_config(group, values: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None,
                 where: str = "parameters") -> Any:
    """The config of one parameter group (``nodes.parameters.ParameterGroup``: ``prefix``, ``config_class``) from
    parameter values by full name, as the node builds it: the dataclass defaults for the rest, then ``validate()``.

    Args:
        overrides: values by field name for fields the node fills from another parameter (``from_parameters``).
        where: what the values came from, for the error message (files and node).
    Raises:
        ParameterFileError: a wrongly typed value, or one the config's validate() refuses.
    """
    try:
        return build_config(group.config_class, group.prefix, values, dict(overrides or {}))
    except ParameterFileError as error:
        raise ParameterFileError(f"{where}: {error}") from None
    except (ValueError, TypeError) as error:
        section = f"{group.prefix}: " if group.prefix else ""
        raise ParameterFileError(f"{where}: {section}{error}") from None
