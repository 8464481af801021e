// Every GraphQL document the dashboard sends: fixed texts with variables (the server builds
// identical stream documents once for all their subscribers). tests/browser/test_dashboard.py
// imports this module in the browser and validates each against the public schema.

const POSITION = `accountId side quantity entryPrice markPrice notional unrealizedPnl
  positionMargin maintenanceMargin marginRatio liquidationPrice leverage marginMode sequence
  updatedAt market { id }`;

const LIQUIDATION = `id accountId marketId step orderId quantity price amount insuranceFundAfter
  counterpartyAccountId sequence at`;

const ALERT = "id rule severity summary customerId market detectedAt status";

export const VIEWER = "query DashboardViewer { viewer { keyId role tenantId customerId } }";

export const RISK_SUMMARY = `subscription DashboardRisk { riskSummary {
  markets { marketId markPrice longNotional shortNotional netNotional marginInUse openPositions }
  marginInUse { asset amount }
  marginRatioBands { name lower upper accounts }
  insuranceFunds { asset balance updatedAt }
  largestPositions { ${POSITION} }
  accountsWithPositions } }`;

export const POSITIONS = `subscription DashboardPositions($account: ID) {
  positions(account: $account) { position { ${POSITION} } } }`;

export const LIQUIDATIONS = `subscription DashboardLiquidations {
  liquidations { ${LIQUIDATION} } }`;

export const ALERTS = `subscription DashboardAlerts { complianceAlerts { ${ALERT} } }`;

/** What the streams cannot replay, read again after every reconnect. */
export const RECENT_LIQUIDATIONS = `query DashboardRecentLiquidations {
  liquidations(first: 50) { nodes { ${LIQUIDATION} } } }`;

export const RECENT_ALERTS = `query DashboardRecentAlerts {
  complianceAlerts(first: 20) { nodes { ${ALERT} } } }`;

const MARKETS = `markets { id kind status }
  markPrices { marketId markPrice indexPrice fundingRate nextFundingAt sequence }`;

/** Tenant (brand, status), markets and marks: read at sign-in, after reconnects, and every
 * few seconds (no stream carries tenant or market status). */
export const TENANT_STATUS = `query DashboardTenant($tenant: ID!) {
  tenant(id: $tenant) { id name status listedMarkets
    brand { displayName logoUrl primaryColor secondaryColor } }
  ${MARKETS} }`;

export const PLATFORM_STATUS = `query DashboardPlatform {
  tenants(first: 50) { nodes { id name status } }
  ${MARKETS} }`;

export const MY_ACCOUNTS = "query DashboardAccounts { accounts(first: 20) { nodes { id } } }";

/** The latest funding payment of up to 10 accounts on one market, in one request. */
export function fundingPayments(accountIds) {
  const fields = accountIds.map((_, index) => `f${index}: fundingPayments(accountId: $a${index},
    market: $market, first: 1) { nodes { id accountId marketId quantity markPrice rate amount sequence
    asset paidAt } }`);
  const variables = accountIds.map((_, index) => `$a${index}: ID!`).join(", ");
  return `query DashboardFunding($market: ID!, ${variables}) { ${fields.join("\n")} }`;
}
