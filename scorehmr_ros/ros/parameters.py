"""ROS parameters declared from the core's config dataclasses (each default lives once, there).

A config dataclass's fields become parameters ``<prefix>.<field>`` with the field's default,
description and range (``core.config_fields.setting``); reading them back builds the
dataclass and runs its ``validate()``. A set-parameters callback rejects values that fail
validation, with the reason, so a running node never holds an invalid config.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from scorehmr_ros.base.config_fields import setting_info

Config = TypeVar("Config")

_SEQUENCE_TYPES = {str: Parameter.Type.STRING_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                   float: Parameter.Type.DOUBLE_ARRAY, bool: Parameter.Type.BOOL_ARRAY}
_SCALAR_TYPES = {str: Parameter.Type.STRING, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
                 bool: Parameter.Type.BOOL}


def _nested_class(config_class: type, field: dataclasses.Field) -> type | None:
    hint = typing.get_type_hints(config_class)[field.name]
    return hint if dataclasses.is_dataclass(hint) else None


def _parameter_type(config_class: type, field: dataclasses.Field) -> Parameter.Type:
    hint = typing.get_type_hints(config_class)[field.name]
    if hint in _SCALAR_TYPES:
        return _SCALAR_TYPES[hint]
    if typing.get_origin(hint) is tuple:
        (item, *rest) = typing.get_args(hint)
        if item in _SEQUENCE_TYPES and (not rest or rest == [Ellipsis]):
            return _SEQUENCE_TYPES[item]
    raise TypeError(f"{config_class.__name__}.{field.name}: type {hint} cannot be a ROS parameter")


def _descriptor(config_class: type, field: dataclasses.Field, parameter_type: Parameter.Type) -> ParameterDescriptor:
    info = setting_info(field)
    descriptor = ParameterDescriptor(type=parameter_type.value)
    if info is None:
        descriptor.description = f"{config_class.__name__}.{field.name}"
        return descriptor
    unit = f" [{info.unit}]" if info.unit else ""
    descriptor.description = info.description + unit
    if info.choices:
        descriptor.additional_constraints = "one of: " + ", ".join(info.choices)
    if info.minimum is not None and info.maximum is not None:
        if parameter_type == Parameter.Type.INTEGER:
            descriptor.integer_range = [IntegerRange(from_value=int(info.minimum), to_value=int(info.maximum), step=0)]
        elif parameter_type == Parameter.Type.DOUBLE:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(info.minimum), to_value=float(info.maximum), step=0.0)]
    elif info.minimum is not None or info.maximum is not None:
        descriptor.additional_constraints = f">= {info.minimum}" if info.minimum is not None else f"<= {info.maximum}"
    return descriptor


def declare_config(node: Node, config_class: type[Config], *, prefix: str, defaults: Config | None = None,
                   exclude: tuple[str, ...] = ()) -> None:
    """Declare one parameter per field of ``config_class`` under ``prefix``.

    ``defaults`` overrides the dataclass defaults (for fields without one, such as camera names);
    fields named in ``exclude`` are not declared (the node fills them from another parameter).
    """
    for field in dataclasses.fields(config_class):
        if field.name in exclude:
            continue
        nested = _nested_class(config_class, field)
        if nested is not None:  # a config inside a config: its own prefix level
            nested_defaults = getattr(defaults, field.name) if defaults is not None else field.default_factory()
            declare_config(node, nested, prefix=f"{prefix}.{field.name}" if prefix else field.name,
                           defaults=nested_defaults)
            continue
        parameter_type = _parameter_type(config_class, field)
        if defaults is not None:
            default = getattr(defaults, field.name)
        elif field.default is not dataclasses.MISSING:
            default = field.default
        else:
            default = None
        name = f"{prefix}.{field.name}" if prefix else field.name
        descriptor = _descriptor(config_class, field, parameter_type)
        if default is None:
            descriptor.dynamic_typing = False
            node.declare_parameter(name, parameter_type, descriptor)
        else:
            value = list(default) if isinstance(default, tuple) else default
            node.declare_parameter(name, value, descriptor)


def _converted(config_class: type, field: dataclasses.Field, value: Any) -> Any:
    hint = typing.get_type_hints(config_class)[field.name]
    if typing.get_origin(hint) is tuple:
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def read_config(node: Node, config_class: type[Config], *, prefix: str,
                overrides: dict[str, Any] | None = None, pending: dict[str, Any] | None = None) -> Config:
    """Build ``config_class`` from the node's parameters and validate it.

    Args:
        overrides: values by field name (fields that are not parameters under ``prefix``).
        pending: values by full parameter name that replace the node's current ones (a set request
            being checked before it is accepted).
    Raises:
        ValueError: a parameter is unset or the config's validate() rejects it (the message names it).
    """
    values = {}
    for field in dataclasses.fields(config_class):
        name = f"{prefix}.{field.name}" if prefix else field.name
        if overrides and field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        nested = _nested_class(config_class, field)
        if nested is not None:
            values[field.name] = read_config(node, nested, prefix=name, pending=pending)
            continue
        if pending and name in pending:
            values[field.name] = _converted(config_class, field, pending[name])
            continue
        try:
            parameter = node.get_parameter(name)
        except ParameterUninitializedException:
            raise ValueError(f"parameter {name!r} is required (no default); set it in the parameters file") from None
        values[field.name] = _converted(config_class, field, parameter.value)
    config = config_class(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        config = validate() or config
    return config




@dataclasses.dataclass(frozen=True)
class ParameterGroup:
    """One config dataclass declared under ``prefix``.

    ``from_parameters`` maps fields that are not declared under the prefix to another parameter
    of the node, e.g. ``(("camera_names", "cameras"),)``: the rig's one camera list.
    """

    prefix: str
    config_class: type
    from_parameters: tuple[tuple[str, str], ...] = ()

    @property
    def exclude(self) -> tuple[str, ...]:
        return tuple(field for field, _ in self.from_parameters)

    def names(self) -> list[str]:
        return _names(self.config_class, self.prefix, self.exclude)

    def read(self, node: Node, pending: dict[str, Any] | None = None):
        """The group's validated config from the node's parameters (``pending``: values about to be set)."""
        pending = pending or {}
        fixed = {field: _converted(self.config_class, _field(self.config_class, field),
                                   pending.get(parameter, node.get_parameter(parameter).value) or ())
                 for field, parameter in self.from_parameters}
        return read_config(node, self.config_class, prefix=self.prefix, overrides=fixed, pending=pending)


def _names(config_class: type, prefix: str, exclude: tuple[str, ...] = ()) -> list[str]:
    names = []
    for field in dataclasses.fields(config_class):
        if field.name in exclude:
            continue
        name = f"{prefix}.{field.name}" if prefix else field.name
        nested = _nested_class(config_class, field)
        names += _names(nested, name) if nested is not None else [name]
    return names


def _field(config_class: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(config_class) if f.name == name)


def declare_groups(node: Node, groups: tuple[ParameterGroup, ...]) -> None:
    """Declare every group's parameters; reject a later change that its config would not validate."""
    for group in groups:
        declare_config(node, group.config_class, prefix=group.prefix, exclude=group.exclude)

    def on_set(parameters: list[Parameter]) -> SetParametersResult:
        pending = {parameter.name: parameter.value for parameter in parameters}
        for group in groups:
            affected = set(group.names()) | {name for _, name in group.from_parameters}
            if affected & pending.keys():
                try:
                    group.read(node, pending)
                except (ValueError, TypeError) as error:
                    return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)


def parameter_names(groups: tuple[ParameterGroup, ...], extra: tuple[str, ...] = ()) -> set[str]:
    """Every parameter name a node with these groups declares (for checking YAML files)."""
    return {name for group in groups for name in group.names()} | set(extra)
