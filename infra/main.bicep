// appgw-doctor: the Functions app (Flex Consumption, Python 3.11, system-assigned identity), its
// storage (host, state tables, the work queue; Entra ID only, no shared keys), Log Analytics and
// Application Insights, a Key Vault for the notification secrets, and, once the code is published,
// the Event Grid subscription that feeds gateway/NSG/route-table writes to `resource_changes`.
//
// Deploy (docs/DEPLOYMENT.md):
//   az deployment group create -g <rg> -f infra/main.bicep -p namePrefix=appgwdoc allowedSubscriptions=<ids>
//   func azure functionapp publish <functionAppName>
//   az deployment group create ... -p subscribeToResourceEvents=true      (the function must exist)
// Roles on the watched subscriptions: infra/subscription-roles.bicep (az deployment sub create).
// Checked offline by `make check-infra` (checkov); skipped checks carry their reason inline.

@description('Prefix for resource names (lower-case letters and digits).')
@minLength(3)
@maxLength(11)
param namePrefix string

param location string = resourceGroup().location

@description('Tags applied to every resource.')
param tags object = {}

@description('Function app name (global DNS name: <name>.azurewebsites.net).')
param functionAppName string = '${namePrefix}-func-${uniqueString(resourceGroup().id)}'

@description('Storage redundancy of the host/state account (ZRS is not offered in every region).')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSku string = 'Standard_ZRS'

@description('Flex Consumption scale-out limit.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Allow inbound HTTP only from the ActionGroup and AzureEventGrid service tags (the function key is still required).')
param restrictInboundToAzureMonitor bool = true

// --- app settings (docs/CONFIGURATION.md, docs/NOTIFICATIONS.md) ---

@description('ALLOWED_SUBSCRIPTIONS: comma-separated subscription ids whose gateways the bot accepts. Grant infra/subscription-roles.bicep in each.')
param allowedSubscriptions string = subscription().subscriptionId

@description('SWEEP_SUBSCRIPTIONS: subscriptions the hourly sweep lists (a subset of the allowed ones); empty = all allowed.')
param sweepSubscriptions string = ''

@description('STATE_TABLE_PREFIX: prefix of the state tables (letters and digits, starting with a letter).')
param stateTablePrefix string = 'appgwdoctor'

@description('SECURE_WEBHOOK_TENANT_ID: Entra ID tenant of the action group secure webhook; empty = function key only.')
param secureWebhookTenantId string = ''

@description('SECURE_WEBHOOK_AUDIENCE: identifier URI (or client id) of the secure webhook app registration; set with the tenant.')
param secureWebhookAudience string = ''

@description('TEAMS_WEBHOOK_URL: default Teams Workflows webhook. Stored as a Key Vault secret; the app setting is a Key Vault reference.')
@secure()
param teamsWebhookUrl string = ''

@description('NOTIFY_EMAIL_TO: default email recipients (comma-separated); empty = no email.')
param notifyEmailTo string = ''

@description('SMTP_HOST: the SMTP relay (required with email).')
param smtpHost string = ''

@description('SMTP_PORT: the relay port.')
@minValue(1)
@maxValue(65535)
param smtpPort int = 587

@description('SMTP_USERNAME: AUTH user name; empty = no AUTH.')
param smtpUsername string = ''

@description('SMTP_PASSWORD: AUTH password. Stored as a Key Vault secret; the app setting is a Key Vault reference.')
@secure()
param smtpPassword string = ''

@description('SMTP_FROM: sender address (required with email).')
param smtpFrom string = ''

@description('SMTP_STARTTLS')
@allowed(['auto', 'always', 'never'])
param smtpStartTls string = 'auto'

@description('TEAMS_MIN_SEVERITY')
@allowed(['critical', 'warning', 'info'])
param teamsMinSeverity string = 'info'

@description('EMAIL_MIN_SEVERITY')
@allowed(['critical', 'warning', 'info'])
param emailMinSeverity string = 'info'

@description('APPROVAL_SIGNING_KEY: signs the Approve/Reject links of remediation mode approve (at least 32 characters, e.g. openssl rand -base64 48); empty = no approval links (appgw-doctor approve ID still works). Stored as a Key Vault secret; the app setting is a Key Vault reference.')
@secure()
param approvalSigningKey string = ''

@description('APPROVERS: who may approve a fix from a link (comma-separated user principal names or Entra group object ids, checked against App Service authentication); empty = anyone holding a link.')
param approvers string = ''

@description('More app settings merged over the ones above, e.g. {"TEAMS_WEBHOOK_URL_PAYMENTS": "@Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/teams-webhook-url-payments/)", "LEASE_SECONDS": "900"}. Redeploying replaces all app settings, so keep every setting here rather than setting it by hand.')
param extraAppSettings object = {}

// --- Event Grid ---

@description('Create the Event Grid subscription to resource_changes. The function must already exist: publish the code first.')
param subscribeToResourceEvents bool = false

@description('Which writes reach the bot: every resource group of this subscription, or only this resource group.')
@allowed(['subscription', 'resourceGroup'])
param eventSource string = 'subscription'

var suffix = uniqueString(resourceGroup().id)
var storageName = take(toLower('${namePrefix}${suffix}'), 24)
var vaultName = take('${namePrefix}-kv-${suffix}', 24)
var deploymentContainer = 'app-package'
var workQueue = 'appgw-doctor-work' // function_app.WORK_QUEUE
var teamsSecretName = 'teams-webhook-url'
var smtpSecretName = 'smtp-password'
var approvalSecretName = 'approval-signing-key'

// Who may call in: action groups (the alert webhook) and Event Grid (resource_changes).
var azureMonitorInbound = [
  { name: 'action-groups', action: 'Allow', priority: 100, tag: 'ServiceTag', ipAddress: 'ActionGroup' }
  { name: 'event-grid', action: 'Allow', priority: 110, tag: 'ServiceTag', ipAddress: 'AzureEventGrid' }
]

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // host: leases, timer state, deployment package
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // the work queue and its poison queue
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // state tables (created on first use)
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault references
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is take(toLower(prefix + uniqueString()), 24), valid by construction; checkov cannot evaluate it
  // checkov:skip=CKV_AZURE_35: Flex Consumption without VNet integration reaches its storage over the public endpoint; access is Entra ID only (shared keys off)
  // checkov:skip=CKV_AZURE_59: as CKV_AZURE_35: public endpoint needed without VNet integration; no anonymous or key access
  // checkov:skip=CKV_AZURE_206: ZRS by default (storageSku); geo-redundancy buys little: lost state is rebuilt by the next alert or sweep
  name: storageName
  location: location
  tags: tags
  sku: { name: storageSku }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: workQueue
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: logRetentionDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-ai'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: App Service resolves Key Vault references over the public endpoint unless the app has VNet integration
  // checkov:skip=CKV_AZURE_189: as CKV_AZURE_109; access is Entra ID RBAC only
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspace.id
    logs: [{ categoryGroup: 'audit', enabled: true }]
  }
}

resource teamsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  // checkov:skip=CKV_AZURE_41: a Workflows URL does not expire; an expiry date would silently stop notifications (rotate by redeploying)
  // checkov:skip=CKV_AZURE_114: contentType is set; checkov does not read the properties of a conditional (if) resource
  parent: vault
  name: teamsSecretName
  properties: { value: teamsWebhookUrl, contentType: 'text/uri' }
}

resource smtpSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  // checkov:skip=CKV_AZURE_41: the relay decides when the password expires; an expiry here would silently stop email
  // checkov:skip=CKV_AZURE_114: contentType is set; checkov does not read the properties of a conditional (if) resource
  parent: vault
  name: smtpSecretName
  properties: { value: smtpPassword, contentType: 'text/plain' }
}

resource approvalSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(approvalSigningKey)) {
  // checkov:skip=CKV_AZURE_41: rotating the key is a redeploy; an expiry date would silently break every approval link
  // checkov:skip=CKV_AZURE_114: contentType is set; checkov does not read the properties of a conditional (if) resource
  parent: vault
  name: approvalSecretName
  properties: { value: approvalSigningKey, contentType: 'text/plain' }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption scales per event; a missed alert is retried by the action group and the hourly sweep
  name: '${namePrefix}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: Azure Monitor action groups and Event Grid cannot present client certificates
  // checkov:skip=CKV_AZURE_212: scale to zero by design (Flex Consumption); work survives in the queue
  // checkov:skip=CKV_AZURE_213: the only HTTP route is the key-protected alert webhook; Flex Consumption has no health-check probe
  // checkov:skip=CKV_AZURE_222: action groups and Event Grid call in from the internet; inbound is limited to their service tags instead
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      runtime: { name: 'python', version: '3.11' }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: 2048 }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      ipSecurityRestrictionsDefaultAction: restrictInboundToAzureMonitor ? 'Deny' : 'Allow'
      ipSecurityRestrictions: restrictInboundToAzureMonitor ? azureMonitorInbound : []
      scmIpSecurityRestrictionsUseMain: false
    }
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: { allow: false }
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
    name: guid(storage.id, app.id, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, app.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// App settings are written after the identity holds its roles, so storage access and the Key Vault
// references resolve on the first start. This resource replaces all app settings on every deployment.
var secretUriBase = '${vault.properties.vaultUri}secrets/'
var baseSettings = {
  AzureWebJobsStorage__accountName: storage.name
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
  ALLOWED_SUBSCRIPTIONS: allowedSubscriptions
  SWEEP_SUBSCRIPTIONS: sweepSubscriptions
  STATE_TABLE_ENDPOINT: 'https://${storage.name}.table.${environment().suffixes.storage}'
  STATE_TABLE_PREFIX: stateTablePrefix
  SECURE_WEBHOOK_TENANT_ID: secureWebhookTenantId
  SECURE_WEBHOOK_AUDIENCE: secureWebhookAudience
  TEAMS_WEBHOOK_URL: empty(teamsWebhookUrl) ? '' : '@Microsoft.KeyVault(SecretUri=${secretUriBase}${teamsSecretName}/)'
  TEAMS_MIN_SEVERITY: teamsMinSeverity
  NOTIFY_EMAIL_TO: notifyEmailTo
  SMTP_HOST: smtpHost
  SMTP_PORT: string(smtpPort)
  SMTP_USERNAME: smtpUsername
  SMTP_PASSWORD: empty(smtpPassword) ? '' : '@Microsoft.KeyVault(SecretUri=${secretUriBase}${smtpSecretName}/)'
  SMTP_FROM: smtpFrom
  SMTP_STARTTLS: smtpStartTls
  EMAIL_MIN_SEVERITY: emailMinSeverity
  APPROVAL_SIGNING_KEY: empty(approvalSigningKey) ? '' : '@Microsoft.KeyVault(SecretUri=${secretUriBase}${approvalSecretName}/)'
  APPROVERS: approvers
}
var appSettings = union(baseSettings, extraAppSettings)

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov's sites/config checks assume the 'web', 'authsettings' or 'logs' config; this is 'appsettings':
  // checkov:skip=CKV_AZURE_13: no App Service Authentication: callers authenticate with the function key (+ secure webhook token, checked in code); Event Grid cannot do Easy Auth
  // checkov:skip=CKV_AZURE_63: IIS-style HTTP logs do not exist on Linux Functions; logs go to Application Insights
  // checkov:skip=CKV_AZURE_65: as CKV_AZURE_63 (detailed error pages)
  // checkov:skip=CKV_AZURE_66: as CKV_AZURE_63 (failed request tracing)
  // checkov:skip=CKV_AZURE_80: not a .NET app
  // checkov:skip=CKV_AZURE_88: Flex Consumption runs from a blob package, not Azure Files
  // checkov:skip=CKV_AZURE_222: public access is set on the site (see its skip), not in app settings
  parent: app
  name: 'appsettings'
  properties: appSettings
  dependsOn: [storageRoles, vaultSecretsUser, teamsSecret, smtpSecret, queue, packageContainer]
}

module resourceEvents 'events.bicep' = if (subscribeToResourceEvents) {
  name: 'appgw-doctor-resource-events'
  params: {
    functionAppId: app.id
    source: eventSource
    topicName: '${namePrefix}-${eventSource}-events'
    tags: tags
  }
  dependsOn: [settings]
}

output functionAppName string = app.name
output functionAppId string = app.id
output principalId string = app.identity.principalId
output alertWebhookUrl string = 'https://${app.properties.defaultHostName}/api/alerts' // add ?code=<function key>
output storageAccountName string = storage.name
output keyVaultName string = vault.name
output workspaceId string = workspace.id
