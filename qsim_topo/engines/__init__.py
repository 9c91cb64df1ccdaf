"""Matmul engines: protocol, registry, and the built-in engines (registered on import)."""

from __future__ import annotations

from qsim_topo.engines import exact as _exact  # noqa: F401  (registers "exact")
from qsim_topo.engines import lowrank as _lowrank  # noqa: F401  (registers "lowrank")
from qsim_topo.engines import pq as _pq  # noqa: F401  (registers "pq")
from qsim_topo.engines import precision as _precision  # noqa: F401  (fp32, tf32, fp16, bf16, ...)
from qsim_topo.engines import sampling as _sampling  # noqa: F401  (registers "cr-sampling")
from qsim_topo.engines import sketch as _sketch  # noqa: F401  (sketch-gaussian, -srht, countsketch)
from qsim_topo.engines import topology as _topology  # noqa: F401  (registers "topology")
from qsim_topo.engines.base import CheckedEngine as CheckedEngine
from qsim_topo.engines.base import EngineBase as EngineBase
from qsim_topo.engines.base import MatmulEngine as MatmulEngine
from qsim_topo.engines.base import available_engines as available_engines
from qsim_topo.engines.base import describe_engine as describe_engine
from qsim_topo.engines.base import get_engine as get_engine
from qsim_topo.engines.base import parse_engine_spec as parse_engine_spec
from qsim_topo.engines.base import register_engine as register_engine
from qsim_topo.engines.base import resolve_engine as resolve_engine
from qsim_topo.engines.exact import ExactEngine as ExactEngine
