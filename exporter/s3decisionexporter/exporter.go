package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
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

// Outcomes of a decision object.
const (
	outcomeShipped      = "shipped"
	outcomeBufferFull   = "dropped_buffer_full"
	outcomeBreakerOpen  = "dropped_breaker_open"
	outcomeFailed       = "failed"
	shutdownDrainBudget = 5 * time.Second
)

type object struct {
	key  string
	body []byte
}

// decisionExporter is fail-open: consuming only builds the objects and offers them to a bounded buffer, never
// waiting and never failing; workers put them behind a circuit breaker.
type decisionExporter struct {
	cfg     *Config
	logger  *zap.Logger
	tb      *metadata.TelemetryBuilder
	store   store
	breaker *breaker
	buf     chan object
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
	outcome map[string]metric.AddOption
}

func newDecisionExporter(cfg *Config, set component.TelemetrySettings) (*decisionExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	e := &decisionExporter{
		cfg: cfg, logger: set.Logger, tb: tb,
		breaker: newBreaker(cfg.Breaker.Threshold, cfg.Breaker.Cooldown, time.Now),
		buf:     make(chan object, cfg.BufferSize),
		stop:    make(chan struct{}),
		outcome: map[string]metric.AddOption{},
	}
	for _, o := range []string{outcomeShipped, outcomeBufferFull, outcomeBreakerOpen, outcomeFailed} {
		e.outcome[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
	return e, nil
}

func (e *decisionExporter) start(ctx context.Context, _ component.Host) error {
	if e.store == nil {
		if e.cfg.LocalDir != "" {
			e.store = dirStore{dir: e.cfg.LocalDir}
		} else {
			s, err := newS3Store(ctx, e.cfg)
			if err != nil {
				return err
			}
			e.store = s
		}
	}
	e.tb.S3decisionBreakerOpen.Record(ctx, 0)
	for range e.cfg.Workers {
		e.wg.Add(1)
		go e.work()
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
				r, rawTime, err := audit.FromLogRecordAnyTime(rl.Resource(), lr)
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
				e.offer(ctx, object{key: objectKey(e.cfg.Prefix, &d), body: body})
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
			e.offer(ctx, object{key: checkpointKey(e.cfg.Prefix, &cp), body: body})
			return
		}
	}
	e.logger.Warn("Malformed integrity checkpoint; not shipped", zap.Error(err))
	e.count(ctx, outcomeFailed, 1)
}

func (e *decisionExporter) offer(ctx context.Context, o object) {
	if !e.breaker.admits() {
		e.count(ctx, outcomeBreakerOpen, 1)
		return
	}
	select {
	case e.buf <- o:
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
		case o := <-e.buf:
			e.ship(o)
		}
	}
}

func (e *decisionExporter) ship(o object) {
	ctx := context.Background()
	if !e.breaker.allow() {
		e.count(ctx, outcomeBreakerOpen, 1)
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
		e.count(ctx, outcomeShipped, 1)
		return
	}
	e.count(ctx, outcomeFailed, 1)
	wasOpen := e.breaker.isOpen()
	if e.breaker.failure() && !wasOpen {
		e.logger.Warn("S3 decision store failing; circuit breaker open, decisions are dropped until a probe succeeds",
			zap.Error(err), zap.Duration("cooldown", e.cfg.Breaker.Cooldown))
		e.tb.S3decisionBreakerOpen.Record(ctx, 1)
	}
}

// shutdown stops the workers, then ships what is still buffered within a bounded time.
func (e *decisionExporter) shutdown(ctx context.Context) error {
	first := false
	e.stopped.Do(func() { first = true; close(e.stop) })
	if !first {
		return nil
	}
	e.wg.Wait()
	deadline := time.Now().Add(shutdownDrainBudget)
	for {
		select {
		case o := <-e.buf:
			if time.Now().After(deadline) || ctx.Err() != nil {
				e.count(context.Background(), outcomeFailed, int64(1+len(e.buf)))
				e.tb.Shutdown()
				return errors.New("s3decision: shutdown before every buffered decision was shipped")
			}
			e.ship(o)
		default:
			e.tb.Shutdown()
			return nil
		}
	}
}
