// Package storeconfig is the configuration every user of the Postgres audit store shares: where the DSN comes from
// when a component's own setting is empty, which table names are valid, and the names of the tables derived from
// the audit table. It imports no database driver, so a component that only names the store (the governance
// processor) can validate its configuration without linking one; the store itself is internal/store.
package storeconfig // import "github.com/govcol/govcol/internal/store/storeconfig"

import (
	"fmt"
	"os"
	"regexp"
)

// EnvDSN is the environment variable read when a component's dsn setting is empty (the quick start sets it; `govctl
// db init` prints it as the writer role's DSN).
const EnvDSN = "GOVCOL_PG_DSN"

// EnvReaderDSN is the reader role's DSN (`govctl db init` prints it); read-only tools prefer it to EnvDSN.
const EnvReaderDSN = "GOVCOL_PG_READER_DSN"

// DSN returns explicit, or else the first of envs that is set (EnvDSN when none is given); "" when none is.
func DSN(explicit string, envs ...string) string {
	if explicit != "" {
		return explicit
	}
	if len(envs) == 0 {
		envs = []string{EnvDSN}
	}
	for _, e := range envs {
		if v := os.Getenv(e); v != "" {
			return v
		}
	}
	return ""
}

// Default table names.
const (
	DefaultTable            = "audit_logs"
	DefaultCheckpointsTable = "audit_checkpoints"
)

// TablePattern is what a table name must match: a plain lower-case SQL identifier short enough that the names
// derived from it (partitions <table>_pYYYYMM, <table>_retention_markers, functions) stay within Postgres' 63 bytes.
var TablePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// ValidTable reports whether name matches TablePattern.
func ValidTable(name string) bool { return TablePattern.MatchString(name) }

// Tables names the audit table and the checkpoints table; the other tables are derived from the audit table.
type Tables struct {
	Records     string // audit_logs
	Checkpoints string // audit_checkpoints
}

// Validate checks both names against TablePattern and that they differ.
func (t Tables) Validate() error {
	if !ValidTable(t.Records) {
		return fmt.Errorf("table %q must match %s (it also names indexes, partitions and functions)", t.Records, TablePattern)
	}
	if !ValidTable(t.Checkpoints) || t.Checkpoints == t.Records {
		return fmt.Errorf("checkpoints_table %q must match %s and differ from table", t.Checkpoints, TablePattern)
	}
	return nil
}

// Chains is the chain registry (<table>_chains).
func (t Tables) Chains() string { return t.Records + "_chains" }

// RetentionMarkers holds the signed retention markers (<table>_retention_markers).
func (t Tables) RetentionMarkers() string { return t.Records + "_retention_markers" }

// Redeliveries holds re-delivered copies of stored records (<table>_redeliveries).
func (t Tables) Redeliveries() string { return t.Records + "_redeliveries" }

// RetentionPolicy holds the retention categories the database enforces (<table>_retention_policy).
func (t Tables) RetentionPolicy() string { return t.Records + "_retention_policy" }

// SchemaVersion is the migrations' version table (<table>_schema_version).
func (t Tables) SchemaVersion() string { return t.Records + "_schema_version" }

// Function returns the name of the store function <table>_<name> (ensure_partitions, retention_delete,
// retention_sign).
func (t Tables) Function(name string) string { return t.Records + "_" + name }
