// Package postgresauditexporter writes the governance processor's canonical audit records to the Postgres
// audit_logs table: embedded migrations, idempotent COPY writes, an append-only table, a JSONL fallback with replay
// during outages, and retention per record category.
//
//go:generate mdatagen metadata.yaml
package postgresauditexporter
