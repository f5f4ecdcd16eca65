"""Karabo attributes of a key, and its units.

From file format 1.3 on, datasets carry Karabo's unit attributes: ``unitName``
('joule'), ``unitSymbol`` ('J'), ``metricPrefixName`` ('micro') and
``metricPrefixSymbol`` ('u'). For control keys most attributes sit on the property's
group rather than on its ``value`` dataset; both are merged, the group winning.

Examples
--------
>>> attrs = {"unitSymbol": "J", "metricPrefixSymbol": "u", "unitName": "joule"}
>>> units_symbol(attrs), units_name(attrs)
('μJ', 'joule')
>>> units_symbol({}) is None
True
"""
from __future__ import annotations

from typing import Any

import h5py
import numpy as np

__all__ = ["UNIT_ATTRIBUTES", "dataset_attributes", "unit_attributes", "units_symbol",
           "units_name"]

UNIT_ATTRIBUTES = ("unitName", "unitSymbol", "metricPrefixName", "metricPrefixSymbol")


def dataset_attributes(ds: h5py.Dataset, is_control_value: bool) -> dict[str, Any]:
    """All attributes of a key's dataset; for a control ``.value`` also its group's."""
    attrs = dict(ds.attrs)
    if is_control_value:
        attrs.update(ds.parent.attrs)
    return attrs


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.ravel()[0])
    return str(value)


def unit_attributes(attrs: dict[str, Any]) -> dict[str, str]:
    """The unit attributes present in ``attrs``, as text."""
    return {name: _text(attrs[name]) for name in UNIT_ATTRIBUTES if name in attrs}


def units_symbol(attrs: dict[str, Any]) -> str | None:
    """Prefix symbol + unit symbol ('u' written as 'μ'), or None without a unit symbol."""
    units = unit_attributes(attrs)
    if "unitSymbol" not in units:
        return None
    prefix = units.get("metricPrefixSymbol", "")
    return ("μ" if prefix == "u" else prefix) + units["unitSymbol"]


def units_name(attrs: dict[str, Any]) -> str | None:
    """Prefix name + unit name ('microjoule'), or None without a unit name."""
    units = unit_attributes(attrs)
    if "unitName" not in units:
        return None
    return units.get("metricPrefixName", "") + units["unitName"]
