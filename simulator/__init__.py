"""A local Azure Resource Manager: serves a world file over the real ARM REST API (HTTPS), so the
real Azure SDK clients can run against it. See docs/WORLD_FORMAT.md and `simulator.service`.

A development tool: the deployed Functions app never imports it, and the deployed package leaves it out.
"""

from simulator.faults import FaultRule, parse_fault_spec
from simulator.service import Simulator
from simulator.world import WorldError

__all__ = ["FaultRule", "Simulator", "WorldError", "parse_fault_spec"]
