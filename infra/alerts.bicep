// The recommended alert rules on Application Gateways, wired to the action group that posts them to
// appgw-doctor's alert webhook (docs/DEPLOYMENT.md, "5. Alerts"; docs/CONFIGURATION.md, "Alert rules"):
//
// - `<prefix>-5xx-<gateway>`: metric alert, the gateway's 5xx responses (ResponseStatus where
//   HttpStatusGroup is 5xx) over `fiveXxThreshold` in 5 minutes: what the clients saw.
// - `<prefix>-unhealthy-<gateway>`: metric alert, UnhealthyHostCount above 0: a backend the gateway
//   no longer sends traffic to (502s follow when a pool has no healthy member left).
// - `<prefix>-502-logs`: log search alert over the access logs in a Log Analytics workspace
//   (HttpStatus 502 in AGWAccessLogs, or httpStatus_d 502 in AzureDiagnostics), split by
//   `_ResourceId` so each gateway fires its own alert (intake/alerts.py reads that dimension).
//   Needs the gateways' diagnostic settings to send the access log to that workspace.
//
// Deploy into any resource group of the gateways' subscription:
//   az deployment group create -g <rg> -f infra/alerts.bicep -p actionGroupId=<action group id> \
//     gatewayIds='["<gateway id>", ...]' accessLogWorkspaceId=<workspace id>
// or, to create the action group here too, pass alertWebhookUrl (with ?code=<function key>) instead
// of actionGroupId.

@description('Resource ids of the Application Gateways to alert on (one metric alert of each kind per gateway).')
param gatewayIds array

@description('Existing action group to notify (its webhook receiver posts to /api/alerts with the common alert schema). Empty: create one from alertWebhookUrl.')
param actionGroupId string = ''

@description('Used when actionGroupId is empty: the alert webhook URL with its function key (main.bicep output alertWebhookUrl + ?code=<key>).')
@secure()
param alertWebhookUrl string = ''

@description('Log Analytics workspace receiving the gateways\' access logs; empty = no log search alert.')
param accessLogWorkspaceId string = ''

@description('Where the access log lands: the resource-specific table (diagnostic setting "Resource specific") or AzureDiagnostics.')
@allowed(['AGWAccessLogs', 'AzureDiagnostics'])
param accessLogTable string = 'AGWAccessLogs'

@description('Prefix for the alert rule names.')
param namePrefix string = 'appgw'

@description('5xx responses in 5 minutes above which the 5xx alert fires.')
param fiveXxThreshold int = 20

@description('502 access-log entries per gateway in 5 minutes above which the log search alert fires.')
param logThreshold int = 10

param location string = resourceGroup().location
param tags object = {}

var createActionGroup = empty(actionGroupId)
var gatewayNamespace = 'Microsoft.Network/applicationGateways'
var queries = {
  AGWAccessLogs: 'AGWAccessLogs\n| where HttpStatus == 502\n| project TimeGenerated, _ResourceId'
  AzureDiagnostics: 'AzureDiagnostics\n| where Category == "ApplicationGatewayAccessLog" and httpStatus_d == 502\n| project TimeGenerated, _ResourceId'
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (createActionGroup) {
  name: '${namePrefix}-doctor'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'appgwdoc'
    enabled: true
    // The common alert schema is what /api/alerts reads; anything else is refused.
    webhookReceivers: [
      { name: 'appgw-doctor', serviceUri: alertWebhookUrl, useCommonAlertSchema: true }
    ]
  }
}

var notify = createActionGroup ? actionGroup.id : actionGroupId

resource fiveXx 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for gateway in gatewayIds: {
    name: '${namePrefix}-5xx-${last(split(gateway, '/'))}'
    location: 'global'
    tags: tags
    properties: {
      description: '5xx responses on the Application Gateway (appgw-doctor diagnoses the cause).'
      severity: 1
      enabled: true
      scopes: [gateway]
      evaluationFrequency: 'PT1M'
      windowSize: 'PT5M'
      autoMitigate: true
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'ResponseStatus5xx'
            metricNamespace: gatewayNamespace
            metricName: 'ResponseStatus'
            dimensions: [{ name: 'HttpStatusGroup', operator: 'Include', values: ['5xx'] }]
            operator: 'GreaterThan'
            threshold: fiveXxThreshold
            timeAggregation: 'Total'
          }
        ]
      }
      actions: [{ actionGroupId: notify }]
    }
  }
]

resource unhealthy 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for gateway in gatewayIds: {
    name: '${namePrefix}-unhealthy-${last(split(gateway, '/'))}'
    location: 'global'
    tags: tags
    properties: {
      description: 'Backends the Application Gateway marks unhealthy (502s follow when a pool has none healthy left).'
      severity: 2
      enabled: true
      scopes: [gateway]
      evaluationFrequency: 'PT1M'
      windowSize: 'PT5M'
      autoMitigate: true
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'UnhealthyHosts'
            metricNamespace: gatewayNamespace
            metricName: 'UnhealthyHostCount'
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Average'
          }
        ]
      }
      actions: [{ actionGroupId: notify }]
    }
  }
]

resource accessLog502 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = if (!empty(accessLogWorkspaceId)) {
  name: '${namePrefix}-502-logs'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}-502-logs'
    description: '502 responses in the Application Gateway access logs, one alert per gateway (split by _ResourceId).'
    severity: 1
    enabled: true
    scopes: [accessLogWorkspaceId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: queries[accessLogTable]
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: logThreshold
          // One alert per gateway: appgw-doctor takes the gateway from this dimension.
          dimensions: [{ name: '_ResourceId', operator: 'Include', values: ['*'] }]
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [notify] }
  }
}

output actionGroupId string = notify
