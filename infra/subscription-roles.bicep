// What the function app's identity may do in one watched subscription (deploy once per subscription
// listed in ALLOWED_SUBSCRIPTIONS):
//   az deployment sub create --subscription <watched> -l <region> -f infra/subscription-roles.bicep \
//     -p principalId=<main.bicep output principalId>
//
// - Reader: gateways, VNets, subnets, NSGs, route tables, NICs, public IPs, metrics.
// - "appgw-doctor diagnostics" (custom): the POST actions a diagnosis calls that Reader (*/read)
//   does not include: backend health and a NIC's effective routes and effective NSG rules.
// - "appgw-doctor remediation" (custom), only with grantRemediation=true: exactly the writes the
//   guarded fixes call (raise-request-timeout, reattach-probe, add-nsg-allow-rule) and the linked
//   permissions ARM checks on a gateway PUT. Off by default: the bot only diagnoses until
//   remediation is switched on. Least privilege: it replaces Network Contributor.
targetScope = 'subscription'

@description('Object id of the function app\'s system-assigned identity (main.bicep output principalId).')
param principalId string

@description('Also grant the appgw-doctor remediation role, for the guarded fixes.')
param grantRemediation bool = false

@description('Deprecated name of grantRemediation (it grants the remediation role, no longer Network Contributor).')
param grantNetworkContributor bool = false

var readerRole = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var remediate = grantRemediation || grantNetworkContributor

// Role names are unique per tenant, so each subscription gets its own definition.
resource diagnosticsRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'appgw-doctor-diagnostics')
  properties: {
    roleName: 'appgw-doctor diagnostics (${subscription().subscriptionId})'
    description: 'POST actions appgw-doctor calls to diagnose Application Gateway 502s; pair with Reader.'
    type: 'CustomRole'
    assignableScopes: [subscription().id]
    permissions: [
      {
        actions: [
          // diagnosis: application_gateways.begin_backend_health (each server's probe result)
          'Microsoft.Network/applicationGateways/backendhealth/action'
          // diagnosis: network_interfaces.begin_get_effective_route_table (UDRs on a backend's path)
          'Microsoft.Network/networkInterfaces/effectiveRouteTable/action'
          // diagnosis: network_interfaces.begin_list_effective_network_security_groups (NSG rules in force)
          'Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action'
        ]
        notActions: []
      }
    ]
  }
}

// What the remediation actions write through the SDK, and nothing else (their reads come from Reader).
resource remediationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'appgw-doctor-remediation')
  properties: {
    roleName: 'appgw-doctor remediation (${subscription().subscriptionId})'
    description: 'Writes appgw-doctor\'s guarded fixes make to Application Gateways and NSG rules; pair with Reader.'
    type: 'CustomRole'
    assignableScopes: [subscription().id]
    permissions: [
      {
        actions: [
          // raise-request-timeout, reattach-probe: application_gateways.begin_create_or_update (PUT of the gateway, If-Match)
          'Microsoft.Network/applicationGateways/write'
          // reattach-probe: its pre-flight, application_gateways.begin_backend_health_on_demand
          'Microsoft.Network/applicationGateways/getBackendHealthOnDemand/action'
          // raise-request-timeout, reattach-probe: linked check of the gateway PUT on its gatewayIPConfigurations' subnet
          'Microsoft.Network/virtualNetworks/subnets/join/action'
          // raise-request-timeout, reattach-probe: linked check of the gateway PUT on its frontends' public IPs
          'Microsoft.Network/publicIPAddresses/join/action'
          // raise-request-timeout, reattach-probe: linked check of the gateway PUT on its user-assigned identities
          'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action'
          // add-nsg-allow-rule: security_rules.begin_create_or_update (If-None-Match: *)
          'Microsoft.Network/networkSecurityGroups/securityRules/write'
          // add-nsg-allow-rule rollback: security_rules.begin_delete (If-Match: the rule's etag)
          'Microsoft.Network/networkSecurityGroups/securityRules/delete'
        ]
        notActions: []
      }
    ]
  }
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRole)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource diagnostics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, 'appgw-doctor-diagnostics')
  properties: {
    roleDefinitionId: diagnosticsRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource remediation 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (remediate) {
  name: guid(subscription().id, principalId, 'appgw-doctor-remediation')
  properties: {
    roleDefinitionId: remediationRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output customRoleId string = diagnosticsRole.id
output remediationRoleId string = remediationRole.id
