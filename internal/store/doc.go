// Package store is the Postgres audit store: everything govcol knows about how audit records, checkpoints, the chain
// registry and retention markers are kept in Postgres, in one place for every component.
//
//   - schema.go: the embedded migrations (migrations/*.sql, applied with tern), the schema version, the connected
//     role's standing, partitions, the retention policy table.
//   - roles.go: the role split of `govctl db init` (owner, writer, reader, maintenance).
//   - retention.go: one retention batch (delete through the SECURITY DEFINER function, sign the markers).
//   - reader.go, decode.go: the streaming reader of stored records (SelectRecords, ReadRecords), binary rows decoded
//     by the field table (audit.Fields).
//   - verify.go, crosscheck.go: VerifyPostgres (chains streamed through two cursors, hashed on every CPU) and the
//     decision-store cross-check's Postgres side and S3 reader.
//   - chains.go: the chain registry and crash sealing, the integrity.ChainStore the governance processor opens
//     (registered from init, so the processor links no driver).
//
// Users: the postgresaudit exporter, the audit API, govctl, the s3decision reconciler and, through
// integrity.ChainStore, the governance processor. What they share without a driver (the DSN variable, the table-name
// rule, the derived table names) is in storeconfig. The exporter's write path (COPY, insert, re-deliveries) stays in
// the exporter.
package store // import "github.com/govcol/govcol/internal/store"
