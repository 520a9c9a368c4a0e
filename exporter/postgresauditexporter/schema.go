package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// The migrations are embedded and applied with tern (github.com/jackc/tern/v2/migrate): it is pgx-native, holds a
// Postgres advisory lock while it checks and applies versions (so collectors starting together against an empty
// database serialise instead of racing), records the version in a table, and renders migrations as templates,
// which the configurable table name needs. Migrations are additive only: a new file, never an edited one.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateSchema brings the schema of cfg.Table to the newest version.
func migrateSchema(ctx context.Context, conn *pgx.Conn, table, checkpoints string) error {
	m, err := migrate.NewMigrator(ctx, conn, table+"_schema_version")
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

// ensurePartitions creates the monthly partitions from last month to monthsAhead months after the current one.
func ensurePartitions(ctx context.Context, pool *pgxpool.Pool, table string, now time.Time, monthsAhead int) error {
	first := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC)
	_, err := pool.Exec(ctx, "SELECT "+table+"_ensure_partitions($1::date, $2)", first, monthsAhead+2)
	return err
}
