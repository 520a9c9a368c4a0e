// Package auditapiextension serves the audit read API (/api/v1/audit/...) and the Log Explorer web page (/audit/)
// over Postgres audit_logs, authenticated by the same licenses as ingestion: the tenant comes from the license, and
// only an admin-tier license reads across tenants.
//
//go:generate mdatagen metadata.yaml
package auditapiextension
