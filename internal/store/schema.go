package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"

	"github.com/govcol/govcol/internal/store/storeconfig"
)

// The migrations are embedded and applied with tern (github.com/jackc/tern/v2/migrate): it is pgx-native, holds a
// Postgres advisory lock while it checks and applies versions (so collectors starting together against an empty
// database serialise instead of racing), records the version in a table, and renders migrations as templates,
// which the configurable table name needs. Migrations are additive only: a new file, never an edited one.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate brings the schema of t to the newest version (as the connected role, which must own it or be allowed to
// create it).
func Migrate(ctx context.Context, conn *pgx.Conn, t storeconfig.Tables) error {
	table, checkpoints := t.Records, t.Checkpoints
	m, err := migrate.NewMigrator(ctx, conn, t.SchemaVersion())
	if err != nil {
		return fmt.Errorf("schema version table: %w", err)
	}
	m.Data["table"] = table
	m.Data["checkpoints"] = checkpoints
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// Querier is a connection, a pool or a transaction.
type Querier interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// SchemaVersion is the number of embedded migrations: the version a fully migrated schema records.
func SchemaVersion() int {
	entries, _ := fs.Glob(migrationFiles, "migrations/*.sql")
	return len(entries)
}

// SchemaRole is how the connected role stands to the audit schema.
type SchemaRole struct {
	Exists bool // the audit table exists
	Owner  bool // the connected role owns it (or is a member of its owner, or a superuser): it may migrate
	// RetentionSelf: the connected role also owns the retention function, so it may delete directly (single-role
	// setup: the append-only guarantees do not hold against this role).
	RetentionSelf bool
	Version       int // the recorded schema version (-1 when it cannot be read)
}

// InspectSchema reports the connected role's standing; it reads only catalogs and the version table.
func InspectSchema(ctx context.Context, q Querier, t storeconfig.Tables) (SchemaRole, error) {
	table := t.Records
	var s SchemaRole
	err := q.QueryRow(ctx, `SELECT pg_has_role(current_user, c.relowner, 'USAGE'),
		coalesce((SELECT p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) FROM pg_proc p
		 WHERE p.oid = to_regprocedure(format('%I.%I(text,timestamptz,integer)', n.nspname, $1 || '_retention_delete'))), false)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($2)`,
		table, pgx.Identifier{table}.Sanitize()).Scan(&s.Owner, &s.RetentionSelf)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.Exists = true
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+pgx.Identifier{t.SchemaVersion()}.Sanitize()).Scan(&s.Version); err != nil {
		s.Version = -1 // no version table, or no privilege on it: the caller decides
	}
	return s, nil
}

// RetentionCategory keeps records whose request_type starts with RequestTypePrefix for Days days (the postgresaudit
// exporter's retention.categories, `govctl db init --retention`).
type RetentionCategory struct {
	// RequestTypePrefix, e.g. "claude_code_" or "claude_code_api_"; "" matches every record.
	RequestTypePrefix string `mapstructure:"request_type_prefix"`
	Days              int    `mapstructure:"days"`
}

// CategoryLabel names a category in logs and metric labels ("*" for the empty prefix).
func CategoryLabel(prefix string) string {
	if prefix == "" {
		return "*"
	}
	return prefix
}

// SyncRetentionPolicy writes the configured categories into the policy table (owner only).
func SyncRetentionPolicy(ctx context.Context, q Querier, t storeconfig.Tables, cats []RetentionCategory) error {
	policy := t.RetentionPolicy()
	for _, c := range cats {
		if _, err := q.Exec(ctx, "INSERT INTO "+policy+" (category, days) VALUES ($1, $2) "+
			"ON CONFLICT (category) DO UPDATE SET days = EXCLUDED.days, updated_at = now() "+
			"WHERE "+policy+".days <> EXCLUDED.days", c.RequestTypePrefix, c.Days); err != nil {
			return err
		}
	}
	return nil
}

// EnsurePartitions creates the monthly partitions from last month to monthsAhead months after the current one.
func EnsurePartitions(ctx context.Context, pool Querier, t storeconfig.Tables, now time.Time, monthsAhead int) error {
	first := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC)
	_, err := pool.Exec(ctx, "SELECT "+t.Function("ensure_partitions")+"($1::date, $2)", first, monthsAhead+2)
	return err
}

// RetentionPolicyMismatches lists the configured categories the stored policy will refuse (none, or a shorter age).
func RetentionPolicyMismatches(ctx context.Context, q Querier, t storeconfig.Tables, cats []RetentionCategory) ([]string, error) {
	var out []string
	for _, c := range cats {
		var days *int
		if err := q.QueryRow(ctx, "SELECT (SELECT days FROM "+t.RetentionPolicy()+" WHERE category = $1)", c.RequestTypePrefix).Scan(&days); err != nil {
			return nil, err
		}
		switch {
		case days == nil:
			out = append(out, fmt.Sprintf("%s: no policy (its records are kept)", CategoryLabel(c.RequestTypePrefix)))
		case *days > c.Days:
			out = append(out, fmt.Sprintf("%s: configured %d days, the policy keeps %d", CategoryLabel(c.RequestTypePrefix), c.Days, *days))
		}
	}
	return out, nil
}

// SafeError describes err without row values: for a Postgres error its code and message (the message names the
// constraint; the detail, which may quote the row, is left out).
func SafeError(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Sprintf("SQLSTATE %s: %s", pgErr.Code, pgErr.Message)
	}
	return err.Error()
}
