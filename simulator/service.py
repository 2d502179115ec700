"""`Simulator`: a world served over the real ARM REST API on a local HTTPS port.

    with Simulator("scenarios/request-timeout/world.json") as sim:
        clients = make_clients(sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert))

The real `azure-mgmt-network` and `azure-mgmt-monitor` clients cannot tell it from Azure. When the
world has custom DNS servers, each one is also answered by a local UDP DNS responder
(`dns_servers` maps the world's server IP to the local address).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.arm import ArmApi
from simulator.dns import DnsResponders
from simulator.faults import FaultPlan, FaultRule
from simulator.server import HttpsServer, RequestLog
from simulator.world import World, load_authorization, load_world


class Simulator:
    """The local ARM simulator. Use as a context manager, or call start() and stop().

    `lro_retry_after` is the `Retry-After` (whole seconds) sent with long-running-operation
    answers; 0 lets SDK pollers use their own polling interval.
    """

    def __init__(
        self,
        world: str | Path | dict[str, Any],
        *,
        faults: list[FaultRule] | tuple[FaultRule, ...] = (),
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        lro_retry_after: int = 0,
        list_page_size: int | None = None,
    ) -> None:
        self.world: World = load_world(world)
        self.requests = RequestLog()
        self._faults = FaultPlan(faults, seed=seed)
        self._started = time.monotonic()
        self._advanced = timedelta(0)
        self.world.now = self.clock
        self._api = ArmApi(
            self.world,
            self._faults,
            clock=self.clock,
            lro_retry_after=lro_retry_after,
            list_page_size=list_page_size,
        )
        self._server = HttpsServer(self._api, self.requests, host=host, port=port)
        self._dns: Any = None

    @property
    def endpoint(self) -> str:
        return self._server.endpoint

    @property
    def ca_cert(self) -> str:
        return self._server.ca_cert

    @property
    def subscription_id(self) -> str:
        return self.world.subscription_id

    @property
    def dns_servers(self) -> dict[str, tuple[str, int]]:
        """World DNS server IP -> the (host, port) of its local responder."""
        return dict(self._dns.addresses) if self._dns is not None else {}

    def clock(self) -> datetime:
        """Simulated now: the world's clock plus the real time elapsed since the simulator was made
        (plus any `advance`)."""
        return self.world.clock + self._advanced + timedelta(seconds=time.monotonic() - self._started)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (e.g. to see the traffic metrics minutes after a fix)."""
        self._advanced += timedelta(seconds=seconds)

    def dump(self) -> dict[str, Any]:
        """The current world (format appgw-world/v1), reflecting every write served so far."""
        with self.world.lock:
            return self.world.dump(self.clock())

    def set_faults(self, faults: list[FaultRule] | tuple[FaultRule, ...]) -> None:
        """Replace the fault rules in force."""
        self._faults.replace(faults)

    def set_authorization(self, section: dict[str, Any] | None) -> None:
        """Replace what the caller is granted: an `authorization` section (docs/WORLD_FORMAT.md), or
        None for everything. Raises WorldError when the section is malformed."""
        authorization = load_authorization(section)
        with self.world.lock:
            self.world.authorization = authorization

    def warm_up(self) -> Simulator:
        """Make, before serving, what the first derivation of each gateway's backend health would
        make once (`ArmApi.warm_up`): for a simulator that stands in for ARM as a service
        (`appgw-doctor simulate`), whose first caller should not wait on it."""
        self._api.warm_up()
        return self

    def start(self) -> Simulator:
        self._server.start()
        if self.world.dns:
            self._dns = DnsResponders(self.world.dns).start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._dns is not None:
            self._dns.stop()
            self._dns = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
