package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/govcol/govcol/exporter/postgresauditexporter/internal/metadata"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/store"
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

	// pending holds each batch that failed at least once and is neither stored nor spilled yet, by its content
	// (batchKey), with the time of its first failure.
	pendingMu sync.Mutex
	pending   map[batchKey]pendingBatch
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
		pending:    map[batchKey]pendingBatch{},
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
		role, err := store.InspectSchema(ctx, conn.Conn(), e.cfg.tables())
		if err == nil && (!role.Exists || role.Owner) {
			if err = store.Migrate(ctx, conn.Conn(), e.cfg.tables()); err == nil {
				err = store.SyncRetentionPolicy(ctx, conn.Conn(), e.cfg.tables(), e.cfg.Retention.Categories)
			}
			if err == nil {
				role, err = store.InspectSchema(ctx, conn.Conn(), e.cfg.tables())
			}
			if err == nil && role.RetentionSelf && !e.warnedOwner {
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
		if role.Exists && !role.Owner {
			if role.Version < 0 {
				return fmt.Errorf("cannot read %s_schema_version as this role (not the schema's owner): grant it "+
					"SELECT, e.g. with `govctl db init`", e.cfg.Table)
			}
			if want := store.SchemaVersion(); role.Version < want {
				return fmt.Errorf("the audit schema is at version %d and this collector needs %d; it is connected as a "+
					"role that does not own the schema (the writer role), so it cannot migrate: apply the migrations as "+
					"the owner (`govctl db init --dsn <owner or superuser DSN>`)", role.Version, want)
			}
			if !e.warnedOwner {
				e.warnedOwner = true
				e.logger.Info("Connected as a role that does not own the audit schema (the writer role): migrations "+
					"skipped, schema version checked", zap.Int("schema_version", role.Version))
				if bad, err := store.RetentionPolicyMismatches(ctx, e.pool, e.cfg.tables(), e.cfg.Retention.Categories); err != nil {
					e.logger.Warn("Cannot read the retention policy", zap.String("error", safeError(err)))
				} else if len(bad) > 0 {
					e.logger.Warn("Retention categories the database policy will refuse (set by the owner: govctl db init --retention)",
						zap.Strings("categories", bad))
				}
			}
		}
		if err := store.EnsurePartitions(ctx, e.pool, e.cfg.tables(), e.now(), e.cfg.PartitionMonthsAhead); err != nil {
			return fmt.Errorf("creating partitions: %w", err)
		}
	}
	e.ready.Store(true)
	return nil
}

func (e *auditExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	rows, cps, bad := e.convertRows(ld)
	if len(rows) == 0 && len(cps) == 0 {
		e.deadLetter(ctx, bad)
		return nil
	}
	// The batch's key is computed only when it is needed: a failure, dead letters, or a batch pending somewhere.
	var key *batchKey
	keyNow := func() batchKey {
		if key == nil {
			k := keyOfRows(rows, cps)
			key = &k
		}
		return *key
	}
	if len(bad) > 0 && !e.isPending(keyNow()) { // a retry of the batch: its malformed and oversize records were dead-lettered already
		e.deadLetter(ctx, bad)
	}
	_, err := e.storeRows(ctx, rows, cps)
	if err == nil {
		if e.anyPending() {
			e.settled(keyNow())
		}
		if e.fb.depth() > 0 {
			e.kickReplay()
		}
		return nil
	}
	first := e.failed(keyNow(), ld)
	if e.spillAfter >= 0 && !e.spilling.Load() && e.now().Sub(first) < e.spillAfter {
		return fmt.Errorf("postgresaudit: writing %d records: %s", len(rows), safeError(err))
	}
	if serr := e.spill(recsOf(rows), cps); serr != nil {
		e.logger.Error("Postgres unreachable and the fallback file refused the batch", zap.Error(serr))
		return serr
	}
	e.logger.Warn("Postgres unreachable beyond the retry budget; batch spilled to the fallback file",
		zap.Int("records", len(rows)), zap.String("error", safeError(err)), zap.String("path", e.cfg.Fallback.Path))
	e.settled(keyNow())
	return nil
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
	rows, cps, bad := e.convertRows(ld)
	return recsOf(rows), cps, bad
}

// convertRows is convert with each record prepared for COPY (newRow): every record is read from its attributes,
// its JSON columns encoded and its caps checked once.
func (e *auditExporter) convertRows(ld plog.Logs) ([]row, []integrity.Checkpoint, []deadLetter) {
	n := ld.LogRecordCount()
	// recs holds the records the rows point to; it never grows past n, so the pointers stay valid.
	recs := make([]audit.Record, 0, n)
	rows := make([]row, 0, n)
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
				rec, err := audit.FromLogRecordForStore(rl.Resource(), lrs.At(k))
				if err != nil {
					bad = append(bad, deadLetter{Reason: reasonMalformed, Error: err.Error(), Record: rawLogRecord(lrs.At(k))})
					continue
				}
				recs = append(recs, rec)
				r, err := newRow(&recs[len(recs)-1])
				if err != nil {
					recs = recs[:len(recs)-1]
					bad = append(bad, deadLetter{Reason: reasonMalformed, Error: err.Error(), Record: rawLogRecord(lrs.At(k))})
					continue
				}
				if err := r.checkCaps(); err != nil {
					recs = recs[:len(recs)-1]
					bad = append(bad, oversizeLetter(rec, err))
					continue
				}
				rows = append(rows, r)
			}
		}
	}
	return rows, cps, bad
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

// shutdown runs after exporterhelper drained its queue. Batches still failing then (their retries were interrupted
// by the shutdown) are spilled, so an outage at shutdown loses nothing.
func (e *auditExporter) shutdown(context.Context) error {
	// Stop replay and maintenance first, so the spill below is the last change to the fallback files.
	e.stopLoops()
	e.wg.Wait()
	var errs []error
	for _, b := range e.takePending() {
		recs, cps, _ := e.convert(b.ld) // malformed ones were dead-lettered on the first attempt
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
