package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

// writer stores batches idempotently, in one transaction per batch. A batch is first COPied straight into the audit
// table (under a savepoint); when a row of it is stored already (a retried, replayed or re-delivered batch: unique
// violation), that COPY is rolled back and the batch takes the conflict path: COPY into a per-connection temporary
// staging table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING into the audit table, which inserts only the rows
// not stored yet. New rows, nearly every batch, are written once instead of twice.
type writer struct {
	pool          *pgxpool.Pool
	staging       string
	copySQL       string
	stageSQL      string
	createSQL     string
	insertSQL     string
	checkpointSQL string
}

func newWriter(pool *pgxpool.Pool, table, checkpoints string) *writer {
	staging := table + "_staging"
	list := audit.ColumnList("")
	return &writer{
		pool:     pool,
		staging:  staging,
		copySQL:  "COPY " + table + " (" + list + ") FROM STDIN (FORMAT binary)",
		stageSQL: "COPY " + staging + " (" + list + ") FROM STDIN (FORMAT binary)",
		// The staging table lives as long as the connection; ON COMMIT DELETE ROWS empties it after every batch.
		createSQL: "CREATE TEMP TABLE IF NOT EXISTS " + staging + " (LIKE " + table + " INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
		// The rows ON CONFLICT skipped that carry a new chain position (a re-delivered record chained again) are kept
		// whole in <table>_redeliveries, so the chain stays gapless; the count returned is the rows inserted.
		insertSQL: "WITH ins AS (INSERT INTO " + table + " (" + list + ") SELECT " + list + " FROM " + staging +
			" ON CONFLICT DO NOTHING RETURNING id, chain_id, chain_seq), " +
			"again AS (INSERT INTO " + storeconfig.Tables{Records: table}.Redeliveries() + " (" + list + ") SELECT " + audit.ColumnList("s.") + " FROM " + staging + " s " +
			"WHERE s.chain_id IS NOT NULL AND s.record_hash IS NOT NULL " +
			"AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = s.id AND ins.chain_id = s.chain_id AND ins.chain_seq = s.chain_seq) " +
			"AND NOT EXISTS (SELECT 1 FROM " + table + " a WHERE a.id = s.id AND a.\"timestamp\" = s.\"timestamp\" " +
			"AND a.chain_id = s.chain_id AND a.chain_seq = s.chain_seq) ON CONFLICT DO NOTHING RETURNING 1) " +
			"SELECT (SELECT count(*) FROM ins)",
		checkpointSQL: "INSERT INTO " + checkpoints + " (chain_id, tenant_id, last_seq, last_hash, key_id, signed_at, signature, withdrawn) " +
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
	}
}

// write stores rows and checkpoints and returns how many rows were new.
func (w *writer) write(ctx context.Context, rows []row, cps []integrity.Checkpoint) (inserted int64, err error) {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if len(rows) > 0 {
		if inserted, err = w.copyRows(ctx, tx, rows); err != nil {
			return 0, err
		}
	}
	for i := range cps {
		c := &cps[i]
		if _, err = tx.Exec(ctx, w.checkpointSQL, c.ChainID, c.TenantID, c.LastSeq, c.LastHash, c.KeyID, c.SignedAt, c.Signature, c.Withdrawn.String()); err != nil {
			return 0, err
		}
	}
	if err = tx.Commit(ctx); err != nil {
		return 0, err
	}
	return inserted, nil
}

// copyRows COPies rows into the audit table, or through the staging table when one of them is stored already.
func (w *writer) copyRows(ctx context.Context, tx pgx.Tx, rows []row) (int64, error) {
	pc := tx.Conn().PgConn()
	if _, err := tx.Exec(ctx, "SAVEPOINT direct_copy"); err != nil {
		return 0, err
	}
	tag, err := pc.CopyFrom(ctx, newCopyReader(rows), w.copySQL)
	if err == nil {
		if _, err = tx.Exec(ctx, "RELEASE SAVEPOINT direct_copy"); err != nil {
			return 0, err
		}
		return tag.RowsAffected(), nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != uniqueViolation {
		return 0, err
	}
	if _, err = tx.Exec(ctx, "ROLLBACK TO SAVEPOINT direct_copy"); err != nil {
		return 0, err
	}
	if _, err = tx.Exec(ctx, w.createSQL); err != nil {
		return 0, err
	}
	if _, err = pc.CopyFrom(ctx, newCopyReader(rows), w.stageSQL); err != nil {
		return 0, err
	}
	var inserted int64
	err = tx.QueryRow(ctx, w.insertSQL).Scan(&inserted)
	return inserted, err
}

// isPermanent reports whether err is about the data (the same rows would fail again, so the batch is split and the
// refused rows dead-lettered): SQLSTATE class 22 (data exception, e.g. a NUL byte in text, a timestamp out of
// range), 23 (integrity constraint violation, e.g. the policy_decision CHECK or one a DBA added) or 54 (program limit
// exceeded, e.g. 54000 for an index entry over the btree limit of about 2.7 kB). The idempotent conflict never gets
// here: INSERT ... ON CONFLICT DO NOTHING absorbs a unique violation on an arbiter index (a record, redelivery or
// checkpoint already stored), so a class-23 error that does reach us is a rule the row breaks. Everything else
// (connection failures, timeouts, a missing table, the server shutting down, serialization failures, deadlocks)
// may pass on a later attempt and keeps the whole batch on the retry / fallback path.
func isPermanent(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}

// retentionPlan is one DELETE pass: the category's prefix, the longer configured prefixes it must leave to their own
// category, and its age limit.
type retentionPlan struct {
	prefix   string
	excluded []string
	maxAge   time.Duration
}

func planRetention(cats []RetentionCategory) []retentionPlan {
	plans := make([]retentionPlan, 0, len(cats))
	for _, c := range cats {
		p := retentionPlan{prefix: c.RequestTypePrefix, excluded: []string{}, maxAge: time.Duration(c.Days) * 24 * time.Hour}
		for _, o := range cats {
			if len(o.RequestTypePrefix) > len(c.RequestTypePrefix) && len(o.RequestTypePrefix) > 0 &&
				o.RequestTypePrefix[:len(c.RequestTypePrefix)] == c.RequestTypePrefix {
				p.excluded = append(p.excluded, o.RequestTypePrefix)
			}
		}
		sort.Strings(p.excluded)
		plans = append(plans, p)
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].prefix < plans[j].prefix })
	return plans
}

// uniqueViolation is SQLSTATE 23505: a row of a direct COPY is stored already.
const uniqueViolation = "23505"
