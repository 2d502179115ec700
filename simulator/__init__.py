"""A local Azure Resource Manager: serves a world file over the real ARM REST API (HTTPS), so the
real Azure SDK clients can run against it. See docs/WORLD_FORMAT.md and `simulator.service`."""

from simulator.faults import FaultRule
from simulator.service import Simulator
from simulator.world import WorldError

__all__ = ["FaultRule", "Simulator", "WorldError"]
