// What the function app's identity may do in one watched subscription (deploy once per subscription
// listed in ALLOWED_SUBSCRIPTIONS):
//   az deployment sub create --subscription <watched> -l <region> -f infra/subscription-roles.bicep \
//     -p principalId=<main.bicep output principalId>
//
// - Reader: gateways, VNets, subnets, NSGs, route tables, NICs, public IPs, metrics.
// - "appgw-doctor diagnostics" (custom): the POST actions a diagnosis calls that Reader (*/read)
//   does not include: backend health and a NIC's effective routes and effective NSG rules.
// - Network Contributor, only with grantNetworkContributor=true: for remediation that writes NSG
//   rules. Off by default: the bot only diagnoses until remediation is switched on.
targetScope = 'subscription'

@description('Object id of the function app\'s system-assigned identity (main.bicep output principalId).')
param principalId string

@description('Also grant Network Contributor, for automatic remediation.')
param grantNetworkContributor bool = false

var readerRole = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var networkContributorRole = '4d97b98b-1d4f-4787-a291-c67834d212e7'

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
          'Microsoft.Network/applicationGateways/backendhealth/action'
          'Microsoft.Network/networkInterfaces/effectiveRouteTable/action'
          'Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action'
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

resource networkContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantNetworkContributor) {
  name: guid(subscription().id, principalId, networkContributorRole)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', networkContributorRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output customRoleId string = diagnosticsRole.id
