"""Engine specs (qsim_topo/engines/spec.py), also re-exported by engines.base."""

from __future__ import annotations

import pytest

from qsim_topo.engines import base
from qsim_topo.engines.spec import parse_engine_spec, parse_option_value
from qsim_topo.errors import EngineOptionError


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.2", 0.2), ("3", 3), ("true", True), ("False", False), ("null", None),
     ("rows", "rows"), ('"1"', "1"), ("[1, 2]", [1, 2])],
)
def test_parse_option_value(text, value):
    assert parse_option_value(text) == value


def test_parse_engine_spec():
    assert parse_engine_spec("exact") == ("exact", {})
    assert parse_engine_spec("topology:ratio=0.2,axis=1,fill=interp") == (
        "topology", {"ratio": 0.2, "axis": 1, "fill": "interp"}
    )
    with pytest.raises(EngineOptionError):
        parse_engine_spec("topology:ratio")


def test_base_still_exports_the_parser():
    assert base.parse_engine_spec is parse_engine_spec
    assert base.parse_option_value is parse_option_value
