package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/govcol/govcol/exporter/postgresauditexporter/internal/metadata"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// auditExporter is the component. exporterhelper owns the queue, batching, timeout and retries; the exporter adds
// what an audit trail needs on top: a batch that keeps failing until its retry budget runs out (or that is still
// failing at shutdown) is spilled to the fallback file rather than dropped, and replayed later.
type auditExporter struct {
	cfg        *Config
	logger     *zap.Logger
	tb         *metadata.TelemetryBuilder
	spillAfter time.Duration

	pool   *pgxpool.Pool
	w      *writer
	fb     *fallbackFile
	dead   *deadLetterFile
	ready  atomic.Bool // schema migrated and partitions ensured
	readyM sync.Mutex
	// warnedOwner: the role standing was logged once.
	warnedOwner bool
	// signingKey signs retention markers (nil: markers stay unsigned).
	signingKey ed25519.PrivateKey
	keyID      string

	// pending holds each batch that failed at least once and is neither stored nor spilled yet, with the time of its
	// first failure. exporterhelper retries a batch with the same plog.Logs, which identifies it.
	pendingMu sync.Mutex
	pending   map[plog.Logs]time.Time
	// spilling is set once a batch was spilled; later failing batches spill at once until the file is replayed.
	spilling atomic.Bool

	replayMu   sync.Mutex
	replayKick chan struct{}
	// loops is cancelled at shutdown: the replay and maintenance loops stop and their queries are abandoned.
	loops     context.Context
	stopLoops context.CancelFunc
	wg        sync.WaitGroup
	now       func() time.Time
}

func newAuditExporter(cfg *Config, set component.TelemetrySettings) (*auditExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	loops, stopLoops := context.WithCancel(context.Background())
	return &auditExporter{
		loops:      loops,
		stopLoops:  stopLoops,
		cfg:        cfg,
		logger:     set.Logger,
		tb:         tb,
		spillAfter: cfg.spillAfter(),
		pending:    map[plog.Logs]time.Time{},
		replayKick: make(chan struct{}, 1),
		now:        time.Now,
	}, nil
}

func (e *auditExporter) start(ctx context.Context, _ component.Host) (err error) {
	ic := e.cfg.Integrity
	if e.signingKey, e.keyID, err = integrity.LoadSigningKey(ic.SigningKeyFile, string(ic.SigningKey), ic.KeyID); err != nil {
		return fmt.Errorf("postgresaudit: integrity: %w", err)
	}
	if e.signingKey == nil && len(e.cfg.Retention.Categories) > 0 {
		e.logger.Warn("Retention is configured without integrity.signing_key_file / signing_key: its markers will be " +
			"unsigned and `govctl verify` will report the gaps retention leaves")
	}
	pcfg, err := pgxpool.ParseConfig(e.cfg.dsn())
	if err != nil {
		// pgx's parse errors may quote the DSN; say only which setting is wrong.
		return errors.New("postgresaudit: dsn is not a valid Postgres connection string")
	}
	pcfg.MaxConns = e.cfg.Pool.MaxConns
	pcfg.ConnConfig.ConnectTimeout = e.cfg.Pool.ConnectTimeout
	pcfg.ConnConfig.RuntimeParams["application_name"] = "govcol-postgresaudit"
	if e.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("postgresaudit: connection pool: %w", err)
	}
	e.w = newWriter(e.pool, e.cfg.Table, e.cfg.CheckpointsTable)
	if e.fb, err = openFallback(e.cfg.Fallback.Path, e.cfg.Fallback.MaxBytes); err != nil {
		return fmt.Errorf("postgresaudit: %w", err)
	}
	if e.dead, err = openDeadLetter(e.cfg.deadLetterPath(), e.cfg.Fallback.DeadLetterMaxBytes); err != nil {
		return fmt.Errorf("postgresaudit: %w", err)
	}
	e.reportFallback()
	// An unreachable database must not stop the collector from starting: records spill to the fallback file and
	// the schema is prepared on the first successful contact.
	sctx, cancel := context.WithTimeout(ctx, e.cfg.Pool.ConnectTimeout+10*time.Second)
	if err := e.ensureReady(sctx); err != nil {
		e.logger.Warn("Postgres not ready at start; records will spill to the fallback file until it is",
			zap.String("error", safeError(err)))
	}
	cancel()
	e.wg.Add(2)
	go e.replayLoop()
	go e.maintenanceLoop()
	e.kickReplay() // records left by a previous run
	return nil
}

// ensureReady prepares the schema once (when create_schema). Connected as the owner of the audit table (or to a
// database without it) the exporter applies the migrations and writes its retention categories into the policy
// table. Connected as any other role (the writer `govctl db init` creates) it cannot and must not change the
// schema: it checks that the schema is at least at the version it needs and leaves it alone. Either way it keeps the
// partitions ahead through <table>_ensure_partitions (SECURITY DEFINER, so the writer may call it).
func (e *auditExporter) ensureReady(ctx context.Context) error {
	if e.ready.Load() {
		return nil
	}
	e.readyM.Lock()
	defer e.readyM.Unlock()
	if e.ready.Load() {
		return nil
	}
	if e.cfg.CreateSchema {
		conn, err := e.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		role, err := inspectSchema(ctx, conn.Conn(), e.cfg.Table)
		if err == nil && (!role.exists || role.owner) {
			if err = migrateSchema(ctx, conn.Conn(), e.cfg.Table, e.cfg.CheckpointsTable); err == nil {
				err = syncRetentionPolicy(ctx, conn.Conn(), e.cfg.Table, e.cfg.Retention.Categories)
			}
			if err == nil {
				role, err = inspectSchema(ctx, conn.Conn(), e.cfg.Table)
			}
			if err == nil && role.retentionSelf && !e.warnedOwner {
				e.warnedOwner = true
				e.logger.Warn("The collector's database role owns the audit schema and the retention function: it could " +
					"disable the append-only triggers and delete records. Run `govctl db init` and connect with the writer " +
					"role's DSN (postgresaudit README, Roles and privileges)")
			}
		}
		conn.Release()
		if err != nil {
			return err
		}
		if role.exists && !role.owner {
			if role.version < 0 {
				return fmt.Errorf("cannot read %s_schema_version as this role (not the schema's owner): grant it "+
					"SELECT, e.g. with `govctl db init`", e.cfg.Table)
			}
			if want := schemaVersion(); role.version < want {
				return fmt.Errorf("the audit schema is at version %d and this collector needs %d; it is connected as a "+
					"role that does not own the schema (the writer role), so it cannot migrate: apply the migrations as "+
					"the owner (`govctl db init --dsn <owner or superuser DSN>`)", role.version, want)
			}
			if !e.warnedOwner {
				e.warnedOwner = true
				e.logger.Info("Connected as a role that does not own the audit schema (the writer role): migrations "+
					"skipped, schema version checked", zap.Int("schema_version", role.version))
				if bad, err := retentionPolicyMismatches(ctx, e.pool, e.cfg.Table, e.cfg.Retention.Categories); err != nil {
					e.logger.Warn("Cannot read the retention policy", zap.String("error", safeError(err)))
				} else if len(bad) > 0 {
					e.logger.Warn("Retention categories the database policy will refuse (set by the owner: govctl db init --retention)",
						zap.Strings("categories", bad))
				}
			}
		}
		if err := ensurePartitions(ctx, e.pool, e.cfg.Table, e.now(), e.cfg.PartitionMonthsAhead); err != nil {
			return fmt.Errorf("creating partitions: %w", err)
		}
	}
	e.ready.Store(true)
	return nil
}

func (e *auditExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	recs, cps, bad := e.convert(ld)
	if len(bad) > 0 && !e.isPending(ld) { // a retry of the batch: its malformed and oversize records were dead-lettered already
		e.deadLetter(ctx, bad)
	}
	if len(recs) == 0 && len(cps) == 0 {
		return nil
	}
	err := e.store(ctx, recs, cps)
	if err == nil {
		e.settled(ld)
		if e.fb.depth() > 0 {
			e.kickReplay()
		}
		return nil
	}
	first := e.failed(ld)
	if e.spillAfter >= 0 && !e.spilling.Load() && e.now().Sub(first) < e.spillAfter {
		return fmt.Errorf("postgresaudit: writing %d records: %s", len(recs), safeError(err))
	}
	if serr := e.spill(recs, cps); serr != nil {
		e.logger.Error("Postgres unreachable and the fallback file refused the batch", zap.Error(serr))
		return serr
	}
	e.logger.Warn("Postgres unreachable beyond the retry budget; batch spilled to the fallback file",
		zap.Int("records", len(recs)), zap.String("error", safeError(err)), zap.String("path", e.cfg.Fallback.Path))
	e.settled(ld)
	return nil
}

// failed records a failure of ld and returns the time of its first failure.
func (e *auditExporter) failed(ld plog.Logs) time.Time {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	first, ok := e.pending[ld]
	if !ok {
		first = e.now()
		e.pending[ld] = first
	}
	return first
}

func (e *auditExporter) isPending(ld plog.Logs) bool {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	_, ok := e.pending[ld]
	return ok
}

func (e *auditExporter) settled(ld plog.Logs) {
	e.pendingMu.Lock()
	delete(e.pending, ld)
	e.pendingMu.Unlock()
}

func (e *auditExporter) spill(recs []audit.Record, cps []integrity.Checkpoint) error {
	if err := e.fb.append(recs, cps); err != nil {
		return err
	}
	e.spilling.Store(true)
	e.tb.PostgresauditFallbackSpilled.Add(context.Background(), int64(len(recs)))
	e.reportFallback()
	return nil
}

func (e *auditExporter) reportFallback() {
	depth := e.fb.depth()
	active := int64(0)
	if depth > 0 || e.spilling.Load() {
		active = 1
	}
	e.tb.PostgresauditFallbackDepth.Record(context.Background(), depth)
	e.tb.PostgresauditFallbackActive.Record(context.Background(), active)
}

// convert reads the canonical records and the integrity checkpoints; log records that are neither, and records with a
// column over its cap (audit.ColumnCaps), are returned as dead letters (reported and skipped, the rest of the batch is
// written). The caps are the last line of defence: the governance processor builds records within them, and an
// oversize value must become a dead letter of its own, never a batch Postgres refuses.
func (e *auditExporter) convert(ld plog.Logs) ([]audit.Record, []integrity.Checkpoint, []deadLetter) {
	recs := make([]audit.Record, 0, ld.LogRecordCount())
	var cps []integrity.Checkpoint
	var bad []deadLetter
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if integrity.IsCheckpoint(lrs.At(k)) {
					cp, err := integrity.CheckpointFromLogRecord(lrs.At(k))
					if err != nil {
						bad = append(bad, deadLetter{Reason: reasonMalformed, Error: err.Error(), Record: rawLogRecord(lrs.At(k))})
						continue
					}
					cps = append(cps, cp)
					continue
				}
				rec, err := audit.FromLogRecord(rl.Resource(), lrs.At(k))
				if err == nil {
					_, err = newRow(&rec)
				}
				if err != nil {
					bad = append(bad, deadLetter{Reason: reasonMalformed, Error: err.Error(), Record: rawLogRecord(lrs.At(k))})
					continue
				}
				if err := rec.CheckCaps(); err != nil {
					bad = append(bad, oversizeLetter(rec, err))
					continue
				}
				recs = append(recs, rec)
			}
		}
	}
	return recs, cps, bad
}

// rawLogRecord keeps what a malformed record carried, for an operator. A record the governance processor stamped
// (it has audit.policy_decision) is masked, and is kept as it is. One that never passed the processor (a pipeline
// without it) may hold raw content: only its shape and a digest are kept, never its body or attributes.
func rawLogRecord(lr plog.LogRecord) map[string]any {
	if _, governed := lr.Attributes().Get(audit.AttrPolicyDecision); !governed {
		h := sha256.New()
		h.Write([]byte(lr.Body().AsString()))
		for k, v := range lr.Attributes().All() {
			h.Write([]byte{0})
			h.Write([]byte(k))
			h.Write([]byte{1})
			h.Write([]byte(v.AsString()))
		}
		return map[string]any{
			"time":       lr.Timestamp().AsTime(),
			"governed":   false,
			"attributes": lr.Attributes().Len(),
			"sha256":     hex.EncodeToString(h.Sum(nil)),
		}
	}
	return map[string]any{
		"time":       lr.Timestamp().AsTime(),
		"body":       lr.Body().AsString(),
		"attributes": lr.Attributes().AsRaw(),
	}
}

// store writes recs and cps. When Postgres refuses the write for a data reason (isPermanent: SQLSTATE class 22, 23 or
// 54), the checkpoints are written on their own and the rows are bisected: each half is written again, a half that
// still fails is split again, down to the single rows Postgres refuses, which are dead-lettered with the SQLSTATE
// and message (never the value); every other row and checkpoint is stored. The error returned is transient: the
// caller retries or spills the whole batch (stored rows dedupe), and nothing was dead-lettered by that attempt, so a
// retry or a replay finds and dead-letters the refused rows once.
func (e *auditExporter) store(ctx context.Context, recs []audit.Record, cps []integrity.Checkpoint) error {
	_, err := e.storeIsolating(ctx, recs, cps)
	return err
}

// storeIsolating is store, and returns how many of recs were dead-lettered.
func (e *auditExporter) storeIsolating(ctx context.Context, recs []audit.Record, cps []integrity.Checkpoint) (int, error) {
	if err := e.ensureReady(ctx); err != nil {
		return 0, err
	}
	rows := make([]row, len(recs))
	for i := range recs {
		rows[i], _ = newRow(&recs[i]) // checked in convert / decode
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

func (e *auditExporter) kickReplay() {
	select {
	case e.replayKick <- struct{}{}:
	default:
	}
}

func (e *auditExporter) replayLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.Fallback.ReplayInterval)
	defer t.Stop()
	for {
		select {
		case <-e.loops.Done():
			return
		case <-t.C:
		case <-e.replayKick:
		}
		if e.fb.depth() == 0 {
			continue
		}
		if err := e.replay(e.loops); err != nil {
			e.logger.Info("Fallback replay paused; Postgres still unavailable", zap.String("error", safeError(err)))
		}
	}
}

// replay writes the fallback file to Postgres in batches. It is idempotent: a record stored before a crash or a
// cut-short replay is ignored by ON CONFLICT.
func (e *auditExporter) replay(ctx context.Context) error {
	e.replayMu.Lock()
	defer e.replayMu.Unlock()
	for {
		rp, err := e.fb.beginReplay()
		if err != nil || rp == "" {
			e.afterReplay()
			return err
		}
		if err := e.replayFile(ctx, rp); err != nil {
			e.reportFallback()
			return err
		}
	}
}

func (e *auditExporter) afterReplay() {
	if e.fb.depth() == 0 {
		e.spilling.Store(false)
	}
	e.reportFallback()
}

func (e *auditExporter) replayFile(ctx context.Context, rp string) error {
	f, err := os.Open(rp)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	var doneRecords, doneBytes int64
	batch := make([]audit.Record, 0, e.cfg.Fallback.ReplayBatchSize)
	var cps []integrity.Checkpoint
	batchStart := 0 // offset in data of the first line of the batch
	var bad []deadLetter
	// flush stores the batch, then dead-letters the lines of its range that could not be decoded or are over a cap.
	// A transient failure leaves the whole range (bad lines included) in the file: nothing of it is dead-lettered
	// twice or lost. Rows Postgres refuses for a data reason are dead-lettered by store, so the file always empties
	// once Postgres is reachable.
	flush := func(end int) error {
		if len(batch) > 0 || len(cps) > 0 {
			refused, err := e.storeIsolating(ctx, batch, cps)
			if err != nil {
				return err
			}
			e.tb.PostgresauditReplayed.Add(ctx, int64(len(batch)-refused))
			doneRecords += int64(len(batch) + len(cps))
		}
		if len(bad) > 0 {
			e.deadLetter(ctx, bad)
			doneRecords += int64(len(bad))
			bad = nil
		}
		doneBytes += int64(end - batchStart)
		batch, cps, batchStart = batch[:0], nil, end
		return nil
	}
	off := 0
	for off < len(data) {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off + 1
		}
		line := bytes.TrimSpace(data[off:end])
		off = end
		if len(line) == 0 {
			continue
		}
		rec, cp, err := decodeLine(line)
		if err == nil && cp == nil {
			_, err = newRow(&rec)
		}
		if err != nil {
			bad = append(bad, deadLetter{Reason: reasonMalformed, Error: "fallback line: " + err.Error(), Record: string(line)})
			continue
		}
		if cp == nil {
			if err := rec.CheckCaps(); err != nil { // a line spilled before the caps existed, or written by hand
				bad = append(bad, oversizeLetter(rec, err))
				continue
			}
		}
		if cp != nil {
			cps = append(cps, *cp)
		} else {
			batch = append(batch, rec)
		}
		if len(batch)+len(cps)+len(bad) >= e.cfg.Fallback.ReplayBatchSize {
			if err := flush(off); err != nil {
				return e.fb.finishReplayWith(rp, doneRecords, doneBytes, data[batchStart:], err)
			}
		}
	}
	if err := flush(len(data)); err != nil {
		return e.fb.finishReplayWith(rp, doneRecords, doneBytes, data[batchStart:], err)
	}
	if err := e.fb.finishReplay(rp, doneRecords, doneBytes, nil); err != nil {
		return err
	}
	e.logger.Info("Fallback file replayed into Postgres", zap.Int64("records", doneRecords))
	return nil
}

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
				if err := ensurePartitions(ctx, e.pool, e.cfg.Table, e.now(), e.cfg.PartitionMonthsAhead); err != nil {
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
	t := e.cfg.Table
	var n int64
	var ids []int64
	if err := tx.QueryRow(ctx, "SELECT deleted, marker_ids FROM "+t+"_retention_delete($1, $2, $3)",
		prefix, cutoff, e.cfg.Retention.BatchSize).Scan(&n, &ids); err != nil {
		return 0, err
	}
	if len(ids) > 0 && e.signingKey != nil {
		markers, err := readMarkers(ctx, tx, t, ids)
		if err != nil {
			return 0, err
		}
		for i := range markers {
			markers[i].m.Sign(e.signingKey, e.keyID)
			if _, err := tx.Exec(ctx, "SELECT "+t+"_retention_sign($1, $2, $3)", markers[i].id, markers[i].m.KeyID, markers[i].m.Signature); err != nil {
				return 0, err
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if len(ids) > 0 && e.signingKey == nil {
		e.logger.Warn("Retention markers stored unsigned (no integrity signing key configured): `govctl verify` will "+
			"report the gaps", zap.Int("markers", len(ids)))
	}
	return n, nil
}

type storedMarker struct {
	id int64
	m  integrity.RetentionMarker
}

// readMarkers reads the markers with the given ids.
func readMarkers(ctx context.Context, tx pgx.Tx, table string, ids []int64) ([]storedMarker, error) {
	rows, err := tx.Query(ctx, "SELECT id, tenant_id, chain_id, from_seq, to_seq, count, category, reason, cutoff, "+
		"deleted_at, key_id, signature FROM "+table+"_retention_markers WHERE id = ANY($1) ORDER BY id", ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedMarker, error) {
		var s storedMarker
		err := r.Scan(&s.id, &s.m.TenantID, &s.m.ChainID, &s.m.FromSeq, &s.m.ToSeq, &s.m.Count, &s.m.Category,
			&s.m.Reason, &s.m.Cutoff, &s.m.DeletedAt, &s.m.KeyID, &s.m.Signature)
		return s, err
	})
}

// shutdown runs after exporterhelper drained its queue. Batches still failing then (their retries were interrupted
// by the shutdown) are spilled, so an outage at shutdown loses nothing.
func (e *auditExporter) shutdown(context.Context) error {
	// Stop replay and maintenance first, so the spill below is the last change to the fallback files.
	e.stopLoops()
	e.wg.Wait()
	e.pendingMu.Lock()
	left := e.pending
	e.pending = map[plog.Logs]time.Time{}
	e.pendingMu.Unlock()
	var errs []error
	for ld := range left {
		recs, cps, _ := e.convert(ld) // malformed ones were dead-lettered on the first attempt
		if e.fb != nil {
			if err := e.spill(recs, cps); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if e.fb != nil {
		errs = append(errs, e.fb.close())
	}
	if e.pool != nil {
		e.pool.Close()
	}
	e.tb.Shutdown()
	return errors.Join(errs...)
}
