package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// The write path: one transaction per batch, and the isolation of rows Postgres refuses for a data reason.

// store writes recs and cps. When Postgres refuses the write for a data reason (isPermanent: SQLSTATE class 22, 23 or
// 54), the checkpoints are written on their own and the rows are bisected: each half is written again, a half that
// still fails is split again, down to the single rows Postgres refuses, which are dead-lettered with the SQLSTATE
// and message (never the value); every other row and checkpoint is stored. The error returned is transient: the
// caller retries or spills the whole batch (stored rows dedupe), and nothing was dead-lettered by that attempt, so a
// retry or a replay finds and dead-letters the refused rows once.
func (e *auditExporter) store(ctx context.Context, recs []audit.Record, cps []integrity.Checkpoint) error {
	_, err := e.storeRows(ctx, rowsOf(recs), cps)
	return err
}

// storeIsolating is store, and returns how many of recs were dead-lettered.
func (e *auditExporter) storeIsolating(ctx context.Context, recs []audit.Record, cps []integrity.Checkpoint) (int, error) {
	return e.storeRows(ctx, rowsOf(recs), cps)
}

// storeRows is storeIsolating for prepared rows (convertRows).
func (e *auditExporter) storeRows(ctx context.Context, rows []row, cps []integrity.Checkpoint) (int, error) {
	if err := e.ensureReady(ctx); err != nil {
		return 0, err
	}
	err := e.writeRows(ctx, rows, cps)
	if err == nil || !isPermanent(err) {
		return 0, err
	}
	var refused []deadLetter
	if len(cps) > 0 {
		// Checkpoints first, so a refused row never costs a chain its signature; one by one if even they are refused.
		if err := e.writeRows(ctx, nil, cps); err != nil {
			if !isPermanent(err) {
				return 0, err
			}
			for i := range cps {
				err := e.writeRows(ctx, nil, cps[i:i+1])
				if err != nil && !isPermanent(err) {
					return 0, err
				}
				if err != nil {
					refused = append(refused, deadLetter{Reason: reasonRejected, Error: safeError(err), Record: cps[i]})
				}
			}
		}
		err = nil // the rows alone have not been tried yet
	}
	refusedCheckpoints := len(refused)
	if err := e.bisect(ctx, rows, err, false, &refused); err != nil {
		return 0, err
	}
	e.deadLetter(ctx, refused)
	return len(refused) - refusedCheckpoints, nil
}

// bisect writes rows whose write as a whole failed with the data error known (nil when that is not known yet). It
// writes them again in two halves and splits a half that still fails, down to single rows: a single row with a data
// error is appended to refused, a transient error stops it. When the first half is stored whole, the second half is
// split at once without being written whole first (the data error must be in it; should it not be, its parts are
// simply stored); inferred marks such a known error, taken from the parent rather than from a write of these rows.
// A single row is always written on its own before it is refused. One bad row among n costs log2(n) to 2·log2(n)
// writes, copying n to 2n rows in all (after the failed first write); row by row would cost n writes.
func (e *auditExporter) bisect(ctx context.Context, rows []row, known error, inferred bool, refused *[]deadLetter) error {
	if len(rows) == 0 {
		return nil
	}
	err := known
	if err == nil || (inferred && len(rows) == 1) {
		err = e.writeRows(ctx, rows, nil)
	}
	switch {
	case err == nil:
		return nil
	case !isPermanent(err):
		return err
	case len(rows) == 1:
		// Within its caps (convert and replay check them) the record is kept whole; withholdOversize guards a caller
		// that skipped the check.
		*refused = append(*refused, deadLetter{Reason: reasonRejected, Error: safeError(err), Record: withholdOversize(*rows[0].rec)})
		return nil
	}
	mid := len(rows) / 2
	before := len(*refused)
	if err := e.bisect(ctx, rows[:mid], nil, false, refused); err != nil {
		return err
	}
	if len(*refused) == before { // the first half was stored whole
		return e.bisect(ctx, rows[mid:], err, true, refused)
	}
	return e.bisect(ctx, rows[mid:], nil, false, refused)
}

func (e *auditExporter) writeRows(ctx context.Context, rows []row, cps []integrity.Checkpoint) error {
	start := time.Now()
	n, err := e.w.write(ctx, rows, cps)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	e.tb.PostgresauditWriteDuration.Record(ctx, float64(time.Since(start).Microseconds())/1000)
	e.tb.PostgresauditBatchSize.Record(ctx, int64(len(rows)))
	e.tb.PostgresauditRowsWritten.Add(ctx, n)
	if dup := int64(len(rows)) - n; dup > 0 {
		e.tb.PostgresauditDuplicatesIgnored.Add(ctx, dup)
	}
	return nil
}

// Dead-letter reasons (the reason attribute of postgresaudit_dead_lettered and the "reason" of a dead-letter line).
const (
	reasonMalformed = "malformed" // not a governed audit record or checkpoint, or an unreadable fallback line
	reasonOversize  = "oversize"  // a column over its cap in audit.ColumnCaps, caught before Postgres
	reasonRejected  = "rejected"  // refused by Postgres for a data reason (isPermanent)
)

// deadLetter appends entries to the dead-letter file and counts them by their reason.
func (e *auditExporter) deadLetter(ctx context.Context, entries []deadLetter) {
	if len(entries) == 0 {
		return
	}
	now := e.now().UTC()
	counts := map[string]int64{}
	for i := range entries {
		entries[i].Time = now
		counts[entries[i].Reason]++
		e.logger.Error("Audit record dead-lettered", zap.String("reason", entries[i].Reason), zap.String("error", entries[i].Error))
	}
	if err := e.dead.add(entries); err != nil {
		e.logger.Error("Writing the dead-letter file failed", zap.Error(err))
	}
	for reason, n := range counts {
		e.tb.PostgresauditDeadLettered.Add(ctx, n, metric.WithAttributes(attribute.String("reason", reason)))
	}
}
