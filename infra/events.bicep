// The Event Grid system topic of a subscription (or one resource group) and its subscription to the
// `resource_changes` function: successful writes to gateways, NSGs (rules included), route tables
// (routes included) and subnets queue a preventive check, and a gateway stopped or started is checked
// at once (intake/events.py decides what it acts on).
//
// main.bicep deploys this for its own subscription (subscribeToResourceEvents=true). For another
// watched subscription, deploy it into any resource group there:
//   az deployment group create --subscription <watched> -g <rg> -f infra/events.bicep \
//     -p functionAppId=<main.bicep output functionAppId> topicName=appgwdoc-subscription-events
// Azure allows one system topic per source: if the subscription already has one, add only the
// event subscription to it. The function must be published before this deploys (Event Grid checks it).

@description('Resource id of the appgw-doctor function app (main.bicep output functionAppId).')
param functionAppId string

@description('Source of the events: this deployment\'s subscription, or only its resource group.')
@allowed(['subscription', 'resourceGroup'])
param source string = 'subscription'

@description('Name of the system topic.')
param topicName string

param tags object = {}

// The writes (and gateway actions) intake/events.py acts on (tests/infra checks the two lists agree).
// Event Grid compares advanced-filter strings case-insensitively.
var watchedOperations = [
  'Microsoft.Network/applicationGateways/write'
  'Microsoft.Network/networkSecurityGroups/write'
  'Microsoft.Network/networkSecurityGroups/securityRules/write'
  'Microsoft.Network/networkSecurityGroups/securityRules/delete'
  'Microsoft.Network/routeTables/write'
  'Microsoft.Network/routeTables/routes/write'
  'Microsoft.Network/routeTables/routes/delete'
  'Microsoft.Network/virtualNetworks/subnets/write'
  'Microsoft.Network/virtualNetworks/write'
  'Microsoft.Network/applicationGateways/start/action'
  'Microsoft.Network/applicationGateways/stop/action'
]

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: topicName
  location: 'global'
  tags: tags
  properties: {
    source: source == 'subscription' ? subscription().id : resourceGroup().id
    topicType: source == 'subscription' ? 'Microsoft.Resources.Subscriptions' : 'Microsoft.Resources.ResourceGroups'
  }
}

resource toFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'appgw-doctor-resource-changes'
  properties: {
    // The function reads CloudEventSchemaV1_0 deliveries as well (intake/events.py parse_event).
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/resource_changes'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: ['Microsoft.Resources.ResourceWriteSuccess', 'Microsoft.Resources.ResourceDeleteSuccess', 'Microsoft.Resources.ResourceActionSuccess']
      advancedFilters: [
        { operatorType: 'StringIn', key: 'data.operationName', values: watchedOperations }
      ]
    }
    // A change older than a day is stale; the hourly sweep covers anything that never arrived.
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
  }
}

output systemTopicName string = topic.name
output eventSubscriptionName string = toFunction.name
