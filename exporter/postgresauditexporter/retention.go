package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/store"
)

// Retention and partition maintenance in the background.

func (e *auditExporter) maintenanceLoop() {
	defer e.wg.Done()
	retention := e.cfg.Retention.CleanupInterval
	if len(e.cfg.Retention.Categories) == 0 || retention <= 0 {
		retention = 24 * time.Hour
	}
	partitions := time.NewTicker(6 * time.Hour)
	defer partitions.Stop()
	cleanup := time.NewTicker(retention)
	defer cleanup.Stop()
	ctx := e.loops
	e.runRetention(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-partitions.C:
			if e.ready.Load() && e.cfg.CreateSchema {
				if err := store.EnsurePartitions(ctx, e.pool, e.cfg.tables(), e.now(), e.cfg.PartitionMonthsAhead); err != nil {
					e.logger.Warn("Creating audit partitions failed", zap.String("error", safeError(err)))
				}
			}
		case <-cleanup.C:
			e.runRetention(ctx)
		}
	}
}

// runRetention deletes expired records category by category, in bounded batches, through the retention function.
// Each batch is one transaction: the function deletes what the policy allows and writes a marker per chain touched;
// the exporter signs every marker with the audit signing key before the transaction commits.
func (e *auditExporter) runRetention(ctx context.Context) {
	if len(e.cfg.Retention.Categories) == 0 || e.ensureReady(ctx) != nil {
		return
	}
	for _, p := range planRetention(e.cfg.Retention.Categories) {
		// A minute of margin for the clocks of collector and database: the function refuses a cutoff younger than
		// the policy by its own clock.
		cutoff := e.now().Add(-p.maxAge - retentionClockMargin)
		var total int64
		for ctx.Err() == nil {
			n, err := e.retentionBatch(ctx, p.prefix, cutoff)
			if err != nil {
				e.logger.Warn("Retention failed", zap.String("category", categoryLabel(p.prefix)), zap.String("error", safeError(err)))
				break
			}
			total += n
			if n < int64(e.cfg.Retention.BatchSize) {
				break
			}
		}
		if total > 0 {
			e.tb.PostgresauditRetentionDeleted.Add(ctx, total,
				metric.WithAttributes(attribute.String("category", categoryLabel(p.prefix))))
			e.logger.Info("Retention deleted audit records", zap.String("category", categoryLabel(p.prefix)), zap.Int64("records", total))
		}
	}
}

const retentionClockMargin = time.Minute

// retentionBatch runs one bounded deletion and signs its markers, in one transaction.
func (e *auditExporter) retentionBatch(ctx context.Context, prefix string, cutoff time.Time) (int64, error) {
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	n, markers, err := store.RetentionBatch(ctx, tx, e.cfg.tables(), prefix, cutoff, e.cfg.Retention.BatchSize, e.signingKey, e.keyID)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if markers > 0 && e.signingKey == nil {
		e.logger.Warn("Retention markers stored unsigned (no integrity signing key configured): `govctl verify` will "+
			"report the gaps", zap.Int("markers", markers))
	}
	return n, nil
}

// safeError and categoryLabel: the store's, for the exporter's logs and metric labels.
var (
	safeError     = store.SafeError
	categoryLabel = store.CategoryLabel
)
