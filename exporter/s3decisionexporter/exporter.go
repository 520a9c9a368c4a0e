package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/govcol/govcol/exporter/s3decisionexporter/internal/metadata"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// Outcomes of a decision (the checkpoint objects are counted the same way).
const (
	outcomeShipped      = "shipped"
	outcomeBufferFull   = "dropped_buffer_full"
	outcomeBreakerOpen  = "dropped_breaker_open"
	outcomeLate         = "dropped_late"
	outcomeFailed       = "failed"
	outcomeNotSelected  = "not_selected"
	shutdownDrainBudget = 5 * time.Second
)

// object is one put: a decision, a checkpoint, or a batch of n decisions.
type object struct {
	key  string
	body []byte
	n    int64
	// oldest is the earliest received_at of a batch's decisions (zero for other objects).
	oldest time.Time
}

// item is one decision waiting in a partition batch (batched layout).
type item struct {
	hour     time.Time
	known    bool
	line     []byte
	received time.Time
}

// decisionExporter is fail-open: consuming only builds the objects and offers them to a bounded buffer, never
// waiting and never failing; workers put them behind a circuit breaker. In the batched layout a batcher collects
// the decisions into one object per hour partition per flush interval first. The reconciler, when configured,
// ships from Postgres what this live path did not.
type decisionExporter struct {
	cfg      *Config
	logger   *zap.Logger
	tb       *metadata.TelemetryBuilder
	store    store
	breaker  *breaker
	sel      *selector
	objs     chan object
	items    chan item
	final    []object // the batches still open at shutdown
	instance string
	seq      atomic.Uint64
	rec      *reconciler
	stop     chan struct{}
	stopped  sync.Once
	wg       sync.WaitGroup
	outcome  map[string]metric.AddOption
}

func newDecisionExporter(cfg *Config, set component.TelemetrySettings) (*decisionExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	sel, err := newSelector(cfg.Selection, set)
	if err != nil {
		return nil, err
	}
	e := &decisionExporter{
		cfg: cfg, logger: set.Logger, tb: tb, sel: sel,
		breaker:  newBreaker(cfg.Breaker.Threshold, cfg.Breaker.Cooldown, time.Now),
		stop:     make(chan struct{}),
		outcome:  map[string]metric.AddOption{},
		instance: instanceName(cfg, set),
	}
	if cfg.Layout == LayoutBatched {
		e.items = make(chan item, cfg.BufferSize)
		e.objs = make(chan object, 2*cfg.Workers)
	} else {
		e.objs = make(chan object, cfg.BufferSize)
	}
	// Batch sequence numbers start at the current time in microseconds, so a restarted instance never reuses a key.
	e.seq.Store(uint64(time.Now().UnixMicro()))
	for _, o := range []string{outcomeShipped, outcomeBufferFull, outcomeBreakerOpen, outcomeLate, outcomeFailed, outcomeNotSelected} {
		e.outcome[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
	return e, nil
}

// instanceName is batch.instance, else the collector's service.instance.id, else the host name (key-safe).
func instanceName(cfg *Config, set component.TelemetrySettings) string {
	if cfg.Batch.Instance != "" {
		return cfg.Batch.Instance
	}
	if v, ok := set.Resource.Attributes().Get("service.instance.id"); ok && v.AsString() != "" {
		return sanitizeInstance(v.AsString())
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return sanitizeInstance(h)
	}
	return "govcol"
}

func (e *decisionExporter) start(ctx context.Context, _ component.Host) error {
	if e.store == nil {
		if e.cfg.LocalDir != "" {
			e.store = newDirStore(e.cfg.LocalDir)
		} else {
			s, err := newS3Store(ctx, e.cfg)
			if err != nil {
				return err
			}
			e.store = s
		}
	}
	e.tb.S3decisionBreakerOpen.Record(ctx, 0)
	if e.cfg.Reconcile.PostgresDSN != "" {
		r, err := newReconciler(e)
		if err != nil {
			return err
		}
		e.rec = r // before the workers start: they read it
	} else {
		e.logger.Warn("s3decision: reconcile.postgres_dsn is not set; decisions the live path drops (buffer full, breaker open, restart) are not shipped later")
	}
	for range e.cfg.Workers {
		e.wg.Add(1)
		go e.work()
	}
	if e.items != nil {
		e.wg.Add(1)
		go e.batch()
	}
	if e.rec != nil {
		e.rec.start()
	}
	return nil
}

func (e *decisionExporter) count(ctx context.Context, outcome string, n int64) {
	e.tb.S3decisionObjects.Add(ctx, n, e.outcome[outcome])
}

// pushLogs never returns an error: S3 is best-effort, and an error here would make the pipeline retry or refuse
// data that Postgres already has.
func (e *decisionExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if integrity.IsCheckpoint(lr) {
					e.offerCheckpoint(ctx, lr)
					continue
				}
				if !e.sel.selects(ctx, rl, sl, lr) {
					e.count(ctx, outcomeNotSelected, 1)
					continue
				}
				r, rawTime, err := audit.FromLogRecordForDecision(rl.Resource(), lr)
				if err != nil {
					e.logger.Warn("Not a governed audit record; no decision object", zap.Error(err))
					e.count(ctx, outcomeFailed, 1)
					continue
				}
				d := newDecision(&r, rawTime)
				body, err := d.body()
				if err != nil {
					e.count(ctx, outcomeFailed, 1)
					continue
				}
				if e.items != nil {
					hour, known := d.hourOf()
					e.offerItem(ctx, item{hour: hour, known: known, line: body, received: d.ReceivedAt})
					continue
				}
				e.offer(ctx, object{key: objectKey(e.cfg.Prefix, &d), body: body, n: 1})
			}
		}
	}
	return nil
}

// offerCheckpoint ships an integrity checkpoint beside the decisions, at
// <prefix>/checkpoints/<chain_id, path-escaped>/<last_seq, 20 digits>.json, so the S3 copy can be verified alone.
func (e *decisionExporter) offerCheckpoint(ctx context.Context, lr plog.LogRecord) {
	cp, err := integrity.CheckpointFromLogRecord(lr)
	if err == nil {
		var body []byte
		if body, err = json.Marshal(cp); err == nil {
			e.offer(ctx, object{key: checkpointKey(e.cfg.Prefix, &cp), body: body, n: 1})
			return
		}
	}
	e.logger.Warn("Malformed integrity checkpoint; not shipped", zap.Error(err))
	e.count(ctx, outcomeFailed, 1)
}

func (e *decisionExporter) offer(ctx context.Context, o object) {
	if !e.breaker.admits() {
		e.count(ctx, outcomeBreakerOpen, o.n)
		return
	}
	select {
	case e.objs <- o:
	default:
		e.count(ctx, outcomeBufferFull, o.n)
	}
}

func (e *decisionExporter) offerItem(ctx context.Context, it item) {
	if !e.breaker.admits() {
		e.count(ctx, outcomeBreakerOpen, 1)
		return
	}
	select {
	case e.items <- it:
	default:
		e.count(ctx, outcomeBufferFull, 1)
	}
}

func (e *decisionExporter) work() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case o := <-e.objs:
			e.ship(o)
		}
	}
}

func (e *decisionExporter) ship(o object) {
	ctx := context.Background()
	// A batch the live path could only put after the reconciler may already have taken its decisions is left to
	// the reconciler: two objects holding the same decision would count it twice in a SIEM.
	if e.rec != nil && !o.oldest.IsZero() && time.Since(o.oldest) > e.cfg.Reconcile.Settle-e.cfg.PutTimeout {
		e.count(ctx, outcomeLate, o.n)
		return
	}
	if !e.breaker.allow() {
		e.count(ctx, outcomeBreakerOpen, o.n)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.cfg.PutTimeout)
	start := time.Now()
	err := e.store.put(pctx, o.key, o.body)
	cancel()
	e.tb.S3decisionPutDuration.Record(ctx, float64(time.Since(start).Microseconds())/1000)
	if err == nil {
		wasOpen := e.breaker.isOpen()
		e.breaker.success()
		if wasOpen {
			e.logger.Info("S3 decision store reachable again; circuit breaker closed")
			e.tb.S3decisionBreakerOpen.Record(ctx, 0)
		}
		e.count(ctx, outcomeShipped, o.n)
		return
	}
	e.count(ctx, outcomeFailed, o.n)
	wasOpen := e.breaker.isOpen()
	if e.breaker.failure() && !wasOpen {
		e.logger.Warn("S3 decision store failing; circuit breaker open, decisions are dropped until a probe succeeds",
			zap.Error(err), zap.Duration("cooldown", e.cfg.Breaker.Cooldown))
		e.tb.S3decisionBreakerOpen.Record(ctx, 1)
	}
}

// shutdown stops the reconciler, the batcher (which hands over its open batches) and the workers, then ships what is
// still buffered within a bounded time.
func (e *decisionExporter) shutdown(ctx context.Context) error {
	first := false
	e.stopped.Do(func() { first = true; close(e.stop) })
	if !first {
		return nil
	}
	if e.rec != nil {
		e.rec.stop()
	}
	e.wg.Wait()
	deadline := time.Now().Add(shutdownDrainBudget)
	pending := e.final
	for {
		var o object
		select {
		case o = <-e.objs:
		default:
			if len(pending) == 0 {
				e.tb.Shutdown()
				return nil
			}
			o, pending = pending[0], pending[1:]
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n := o.n
			for range len(e.objs) {
				n += (<-e.objs).n
			}
			for _, p := range pending {
				n += p.n
			}
			e.count(context.Background(), outcomeFailed, n)
			e.tb.Shutdown()
			return errors.New("s3decision: shutdown before every buffered decision was shipped")
		}
		e.ship(o)
	}
}
