"""Worlds shaped like a large multi-tenant gateway, for the size benchmark (bench/size_bench.py) and
the test that the indexed Snapshot finds exactly what the straightforward computation found
(test_sized_world.py).

`pools` backend pools of 10 servers each, and as many backend settings, probes, multi-site listeners
and basic rules; each pool's servers in a backend subnet of its own, with its own NSG and route table.
Every 5th pool is unhealthy: its subnet's NSG denies the gateway subnet on the backend port, which the
simulator turns into a TCP connect error in backend health. Members are IP addresses, or NICs (one
per server) with `nics=True`; `shared_subnet_world` has the NICs' IP addresses as members, all in one
subnet.
"""

from __future__ import annotations

from typing import Any

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-tenants/providers/Microsoft.Network"
VNET_ID = f"{GROUP}/virtualNetworks/vnet-tenants"
GATEWAY_ID = f"{GROUP}/applicationGateways/agw-tenants"
GATEWAY_SUBNET = "10.0.0.0/24"
SERVERS_PER_POOL = 10
BACKEND_PORT = 8080


def unhealthy(pool: int) -> bool:
    return pool % 5 == 4


def _rule(nsg_id: str, name: str, priority: int, access: str, source: str, ports: str) -> dict[str, Any]:
    return {
        "id": f"{nsg_id}/securityRules/{name}",
        "name": name,
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "priority": priority,
            "direction": "Inbound",
            "access": access,
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": "*",
            "destinationPortRange": ports,
        },
    }


def _route_table(table_id: str, name: str) -> dict[str, Any]:
    """A route table with one route that touches neither the gateway nor the backends."""
    return {
        "id": table_id,
        "name": name,
        "type": "Microsoft.Network/routeTables",
        "location": "westeurope",
        "properties": {
            "disableBgpRoutePropagation": False,
            "routes": [
                {
                    "id": f"{table_id}/routes/shared-services",
                    "name": "shared-services",
                    "properties": {"addressPrefix": "10.250.0.0/16", "nextHopType": "VnetLocal"},
                }
            ],
        },
    }


def _prefix(pool: int) -> tuple[str, str]:
    """(subnet prefix, first three octets) of pool `pool`'s backend subnet."""
    octets = f"10.{1 + pool // 250}.{pool % 250}"
    return f"{octets}.0/24", octets


def sized_world(pools: int, *, nics: bool = False) -> dict[str, Any]:
    """The world (appgw-world/v1) of a gateway with `pools` pools; its gateway id is GATEWAY_ID."""
    gw_nsg_id = f"{GROUP}/networkSecurityGroups/nsg-appgw"
    gw_table_id = f"{GROUP}/routeTables/rt-appgw"
    subnets: list[dict[str, Any]] = [
        {
            "id": f"{VNET_ID}/subnets/appgw-subnet",
            "name": "appgw-subnet",
            "properties": {
                "addressPrefix": GATEWAY_SUBNET,
                "networkSecurityGroup": {"id": gw_nsg_id},
                "routeTable": {"id": gw_table_id},
            },
        }
    ]
    resources: list[dict[str, Any]] = [
        _route_table(gw_table_id, "rt-appgw"),
        {
            "id": gw_nsg_id,
            "name": "nsg-appgw",
            "type": "Microsoft.Network/networkSecurityGroups",
            "location": "westeurope",
            "properties": {
                "securityRules": [
                    _rule(gw_nsg_id, "AllowGatewayManager", 100, "Allow", "GatewayManager", "65200-65535"),
                    _rule(gw_nsg_id, "AllowWebFromInternet", 110, "Allow", "Internet", "80"),
                    _rule(gw_nsg_id, "AllowAzureLoadBalancer", 120, "Allow", "AzureLoadBalancer", "*"),
                ]
            },
        },
    ]
    backends: dict[str, Any] = {}
    pool_bodies, settings, probes, listeners, rules = [], [], [], [], []
    for pool in range(pools):
        name = f"tenant-{pool:03d}"
        prefix, octets = _prefix(pool)
        subnet_id = f"{VNET_ID}/subnets/backend-{name}"
        nsg_id = f"{GROUP}/networkSecurityGroups/nsg-{name}"
        table_id = f"{GROUP}/routeTables/rt-{name}"
        subnets.append(
            {
                "id": subnet_id,
                "name": f"backend-{name}",
                "properties": {
                    "addressPrefix": prefix,
                    "networkSecurityGroup": {"id": nsg_id},
                    "routeTable": {"id": table_id},
                },
            }
        )
        nsg_rules = [_rule(nsg_id, "AllowFromAppGateway", 200, "Allow", GATEWAY_SUBNET, str(BACKEND_PORT))]
        if unhealthy(pool):
            nsg_rules.append(_rule(nsg_id, "DenyAppGateway", 100, "Deny", GATEWAY_SUBNET, str(BACKEND_PORT)))
        resources.append(
            {
                "id": nsg_id,
                "name": f"nsg-{name}",
                "type": "Microsoft.Network/networkSecurityGroups",
                "location": "westeurope",
                "properties": {"securityRules": nsg_rules},
            }
        )
        resources.append(_route_table(table_id, f"rt-{name}"))
        addresses, ip_configurations = [], []
        for server in range(SERVERS_PER_POOL):
            ip = f"{octets}.{4 + server}"
            backends[ip] = {
                "ports": [BACKEND_PORT],
                "responseSeconds": 0.05,
                "paths": {"/": 200, "/health": 200},
            }
            if not nics:
                addresses.append({"ipAddress": ip})
                continue
            nic_id = f"{GROUP}/networkInterfaces/nic-{name}-{server}"
            ip_configurations.append({"id": f"{nic_id}/ipConfigurations/ipconfig1"})
            resources.append(
                {
                    "id": nic_id,
                    "name": f"nic-{name}-{server}",
                    "type": "Microsoft.Network/networkInterfaces",
                    "location": "westeurope",
                    "properties": {
                        "ipConfigurations": [
                            {
                                "id": f"{nic_id}/ipConfigurations/ipconfig1",
                                "name": "ipconfig1",
                                "properties": {
                                    "privateIPAddress": ip,
                                    "privateIPAllocationMethod": "Static",
                                    "subnet": {"id": subnet_id},
                                    "primary": True,
                                },
                            }
                        ]
                    },
                }
            )
        pool_id = f"{GATEWAY_ID}/backendAddressPools/{name}"
        settings_id = f"{GATEWAY_ID}/backendHttpSettingsCollection/{name}"
        probe_id = f"{GATEWAY_ID}/probes/{name}"
        listener_id = f"{GATEWAY_ID}/httpListeners/{name}"
        pool_bodies.append(
            {
                "id": pool_id,
                "name": name,
                "properties": {"backendAddresses": addresses, "backendIPConfigurations": ip_configurations},
            }
        )
        settings.append(
            {
                "id": settings_id,
                "name": name,
                "properties": {
                    "port": BACKEND_PORT,
                    "protocol": "Http",
                    "cookieBasedAffinity": "Disabled",
                    "requestTimeout": 20,
                    "pickHostNameFromBackendAddress": False,
                    "probe": {"id": probe_id},
                },
            }
        )
        probes.append(
            {
                "id": probe_id,
                "name": name,
                "properties": {
                    "protocol": "Http",
                    "path": "/health",
                    "interval": 30,
                    "timeout": 30,
                    "unhealthyThreshold": 3,
                    "pickHostNameFromBackendHttpSettings": False,
                    "minServers": 0,
                    "match": {"statusCodes": ["200-399"]},
                    "host": "127.0.0.1",
                },
            }
        )
        listeners.append(
            {
                "id": listener_id,
                "name": name,
                "properties": {
                    "frontendIPConfiguration": {"id": f"{GATEWAY_ID}/frontendIPConfigurations/fe-public"},
                    "frontendPort": {"id": f"{GATEWAY_ID}/frontendPorts/port-80"},
                    "protocol": "Http",
                    "hostName": f"{name}.contoso.com",
                    "requireServerNameIndication": False,
                },
            }
        )
        rules.append(
            {
                "id": f"{GATEWAY_ID}/requestRoutingRules/{name}",
                "name": name,
                "properties": {
                    "ruleType": "Basic",
                    "priority": 100 + pool,
                    "httpListener": {"id": listener_id},
                    "backendAddressPool": {"id": pool_id},
                    "backendHttpSettings": {"id": settings_id},
                },
            }
        )
    resources.insert(
        0,
        {
            "id": VNET_ID,
            "name": "vnet-tenants",
            "type": "Microsoft.Network/virtualNetworks",
            "location": "westeurope",
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/8"]}, "subnets": subnets},
        },
    )
    resources.append(
        {
            "id": GATEWAY_ID,
            "name": "agw-tenants",
            "type": "Microsoft.Network/applicationGateways",
            "location": "westeurope",
            "properties": {
                "provisioningState": "Succeeded",
                "operationalState": "Running",
                "sku": {"name": "Standard_v2", "tier": "Standard_v2", "capacity": 2},
                "gatewayIPConfigurations": [
                    {
                        "id": f"{GATEWAY_ID}/gatewayIPConfigurations/gwipc",
                        "name": "gwipc",
                        "properties": {"subnet": {"id": f"{VNET_ID}/subnets/appgw-subnet"}},
                    }
                ],
                "frontendIPConfigurations": [
                    {
                        "id": f"{GATEWAY_ID}/frontendIPConfigurations/fe-public",
                        "name": "fe-public",
                        "properties": {
                            "privateIPAllocationMethod": "Dynamic",
                            "publicIPAddress": {"id": f"{GROUP}/publicIPAddresses/agw-tenants-pip"},
                        },
                    }
                ],
                "frontendPorts": [
                    {
                        "id": f"{GATEWAY_ID}/frontendPorts/port-80",
                        "name": "port-80",
                        "properties": {"port": 80},
                    }
                ],
                "backendAddressPools": pool_bodies,
                "backendHttpSettingsCollection": settings,
                "httpListeners": listeners,
                "requestRoutingRules": rules,
                "probes": probes,
                "urlPathMaps": [],
            },
        }
    )
    return {
        "schema": "appgw-world/v1",
        "clock": "2026-11-23T10:30:00Z",
        "subscriptionId": SUBSCRIPTION,
        "resources": resources,
        "backends": backends,
    }


SHARED_SUBNET_ID = f"{VNET_ID}/subnets/backend-shared"


def shared_subnet_world(pools: int) -> dict[str, Any]:
    """`sized_world(pools, nics=True)` as virtual machines are often put behind a gateway: the pools
    list the servers' IP addresses (not their NICs), and every server sits in one backend subnet
    (10.1.0.0/16, with neither NSG nor route table). Each pool's NSG guards its servers' NICs
    instead, so every 5th pool is still denied, by its NICs' NSG."""
    world = sized_world(pools, nics=True)
    resources = world["resources"]
    vnet = next(r for r in resources if r["id"] == VNET_ID)
    subnets = vnet["properties"]["subnets"]
    vnet["properties"]["subnets"] = [s for s in subnets if "/subnets/backend-" not in s["id"]] + [
        {"id": SHARED_SUBNET_ID, "name": "backend-shared", "properties": {"addressPrefix": "10.1.0.0/16"}}
    ]
    nics = {r["id"]: r for r in resources if r["type"] == "Microsoft.Network/networkInterfaces"}
    gateway = next(r for r in resources if r["id"] == GATEWAY_ID)
    for pool in gateway["properties"]["backendAddressPools"]:
        addresses = []
        for reference in pool["properties"]["backendIPConfigurations"]:
            nic = nics[reference["id"].split("/ipConfigurations/")[0]]
            nic["properties"]["networkSecurityGroup"] = {
                "id": f"{GROUP}/networkSecurityGroups/nsg-{pool['name']}"
            }
            (configuration,) = nic["properties"]["ipConfigurations"]
            configuration["properties"]["subnet"] = {"id": SHARED_SUBNET_ID}
            addresses.append({"ipAddress": configuration["properties"]["privateIPAddress"]})
        pool["properties"]["backendAddresses"] = addresses
        pool["properties"]["backendIPConfigurations"] = []
    world["resources"] = [r for r in resources if not r["id"].startswith(f"{GROUP}/routeTables/rt-tenant-")]
    return world
