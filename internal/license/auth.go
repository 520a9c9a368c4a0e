package license

// Names of the client.Info.Auth attributes a server authenticator exposes for a verified license (licenseauth sets
// them; the governance processor and the audit API read them). Any authenticator exposing them can stand in for
// licenseauth. Downstream components read the tenant and identity from here, never from the payload.
const (
	AuthOrgID     = "org_id"
	AuthTenantID  = "tenant_id"
	AuthClientID  = "client_id"
	AuthTier      = "tier"
	AuthLicenseID = "license_id"
	AuthEmail     = "email"
	// AuthScope is the license's scope: ingest (also for licenses without the claim), read or admin.
	AuthScope = "scope"
	// AuthReadTenant is "true" when a read license is granted its whole tenant, else "false".
	AuthReadTenant = "read_tenant"
	// AuthGlobal is "true" when an admin license reads every organisation, else "false".
	AuthGlobal = "global"
)
