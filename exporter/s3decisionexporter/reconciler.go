package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/integrity"
	auditstore "github.com/govcol/govcol/internal/store"
)

// The reconciler (README "Reconciler") makes the store complete: it reads audit_logs read-only, slice by slice of
// event time, rebuilds each row's record, evaluates the same selection as the live path, lists what the store
// holds for the slice and puts the selected decisions it lacks, under the keys the live path would have used
// (per_decision) or in objects named after their content (batched). Its watermark (every slice before it is
// complete) and the row counts of the recently reconciled slices live in the store, at <prefix>/_reconciler/state.
// Only one reconciler per bucket and prefix works at a time: it holds a Postgres advisory lock.

// reconcileState is the durable watermark.
type reconcileState struct {
	Version int `json:"version"`
	// Watermark: every selected decision whose event time is before it, and that Postgres held settle before the
	// pass that moved it, is in the store.
	Watermark time.Time `json:"watermark"`
	// Slices holds, for the slices in [watermark-recheck, watermark), the rows counted when each was reconciled
	// (slice start, Unix seconds → rows); a slice whose count grew got late rows and is reconciled again.
	Slices    map[string]int64 `json:"slices"`
	UpdatedAt time.Time        `json:"updated_at"`
}

const stateVersion = 1

func stateKey(prefix string) string {
	if prefix == "" {
		return "_reconciler/state"
	}
	return prefix + "/_reconciler/state"
}

var (
	passComplete = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "complete")))
	passFailed   = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "failed")))
	passStandby  = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "standby")))
)

type reconciler struct {
	e      *decisionExporter
	cfg    *Config
	logger *zap.Logger
	conn   *pgx.Conn
	locked bool
	state  *reconcileState
	// present caches, per hour partition of the batched layout, the decision ids of the objects already read.
	present map[string]*hourIndex
	cancel  context.CancelFunc
	done    chan struct{}
	now     func() time.Time
}

type hourIndex struct {
	keys map[string]bool
	ids  map[string]bool
}

func newReconciler(e *decisionExporter) (*reconciler, error) {
	return &reconciler{e: e, cfg: e.cfg, logger: e.logger, present: map[string]*hourIndex{}, now: time.Now}, nil
}

func (r *reconciler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				r.close()
				return
			case <-t.C:
			}
			if err := r.pass(ctx); err != nil && ctx.Err() == nil {
				r.e.tb.S3decisionReconcilePasses.Add(ctx, 1, passFailed)
				r.logger.Warn("s3decision reconciler pass failed; retrying", zap.Error(err), zap.Duration("interval", r.cfg.Reconcile.Interval))
			}
			t.Reset(r.cfg.Reconcile.Interval)
		}
	}()
}

func (r *reconciler) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

func (r *reconciler) close() {
	if r.conn != nil {
		_ = r.conn.Close(context.Background())
		r.conn, r.locked = nil, false
	}
}

// lockName names the advisory lock of one bucket (or directory) and prefix.
func lockName(cfg *Config) string {
	return "govcol.s3decision.reconciler:" + cfg.Bucket + cfg.LocalDir + "/" + cfg.Prefix
}

// connect opens the connection and takes the advisory lock; it reports whether this reconciler is the active one.
func (r *reconciler) connect(ctx context.Context) (bool, error) {
	if r.conn != nil && r.conn.IsClosed() {
		r.conn, r.locked = nil, false
	}
	if r.conn == nil {
		c, err := pgx.Connect(ctx, string(r.cfg.Reconcile.PostgresDSN))
		if err != nil {
			return false, fmt.Errorf("connecting to Postgres: %w", err)
		}
		r.conn = c
	}
	if !r.locked {
		if err := r.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lockName(r.cfg)).Scan(&r.locked); err != nil {
			r.close()
			return false, err
		}
		if r.locked {
			// Another reconciler may have moved the watermark while this one did not hold the lock.
			r.state = nil
		}
	}
	return r.locked, nil
}

// pass reconciles the slices due now: re-counted slices behind the watermark whose count grew, then the closed
// slices after it (at most max_slices_per_pass), and saves the watermark.
func (r *reconciler) pass(ctx context.Context) error {
	active, err := r.connect(ctx)
	if err != nil {
		return err
	}
	if !active {
		r.e.tb.S3decisionReconcilePasses.Add(ctx, 1, passStandby)
		return nil
	}
	rc := &r.cfg.Reconcile
	if r.state == nil {
		st, err := loadState(ctx, r.e.store, r.cfg.Prefix)
		if err != nil {
			return fmt.Errorf("reading the watermark: %w", err)
		}
		if st == nil {
			st = &reconcileState{Version: stateVersion, Watermark: r.now().Add(-rc.InitialLookback).UTC().Truncate(rc.Slice), Slices: map[string]int64{}}
		}
		r.state = st
	}
	st := r.state
	now := r.now().UTC()
	cutoff := now.Add(-rc.Settle) // rows received after it are still the live path's
	closeLimit := cutoff.Truncate(rc.Slice)
	end := st.Watermark.Add(time.Duration(rc.MaxSlicesPerPass) * rc.Slice)
	if end.After(closeLimit) {
		end = closeLimit
	}
	from := st.Watermark.Add(-rc.Recheck).Truncate(rc.Slice)
	counts, err := r.sliceCounts(ctx, from, end, cutoff)
	if err != nil {
		return err
	}
	var backlog int64
	defer func() { r.e.tb.S3decisionReconcileBacklog.Record(context.Background(), backlog) }()
	// Behind the watermark: slices that got late rows.
	for s := from; s.Before(st.Watermark); s = s.Add(rc.Slice) {
		k := strconv.FormatInt(s.Unix(), 10)
		if n, seen := st.Slices[k]; counts[s.Unix()] > n || (!seen && counts[s.Unix()] > 0) {
			res, err := r.reconcileRange(ctx, s, s.Add(rc.Slice), cutoff)
			backlog += res.Missing - res.Shipped
			if err != nil {
				return err
			}
			st.Slices[k] = res.Rows
		}
	}
	// Forward.
	for s := st.Watermark; s.Before(end); s = s.Add(rc.Slice) {
		k := strconv.FormatInt(s.Unix(), 10)
		if counts[s.Unix()] > 0 {
			res, err := r.reconcileRange(ctx, s, s.Add(rc.Slice), cutoff)
			backlog += res.Missing - res.Shipped
			if err != nil {
				_ = r.saveState(ctx)
				return err
			}
			st.Slices[k] = res.Rows
		} else {
			st.Slices[k] = 0
		}
		st.Watermark = s.Add(rc.Slice)
	}
	for k := range st.Slices {
		if sec, _ := strconv.ParseInt(k, 10, 64); time.Unix(sec, 0).Before(st.Watermark.Add(-rc.Recheck).Truncate(rc.Slice)) {
			delete(st.Slices, k)
		}
	}
	for h := range r.present {
		if t, err := time.Parse("2006/01/02/15", h); err == nil && t.Add(time.Hour).Before(st.Watermark.Add(-rc.Recheck)) {
			delete(r.present, h)
		}
	}
	if err := r.saveState(ctx); err != nil {
		return fmt.Errorf("saving the watermark: %w", err)
	}
	r.e.tb.S3decisionReconcileLag.Record(ctx, int64(now.Sub(st.Watermark).Seconds()))
	r.e.tb.S3decisionReconcilePasses.Add(ctx, 1, passComplete)
	return nil
}

func loadState(ctx context.Context, s store, prefix string) (*reconcileState, error) {
	b, err := s.get(ctx, stateKey(prefix))
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st reconcileState
	if err := json.Unmarshal(b, &st); err != nil || st.Version != stateVersion || st.Watermark.IsZero() {
		return nil, fmt.Errorf("%s is not a reconciler state of version %d", stateKey(prefix), stateVersion)
	}
	if st.Slices == nil {
		st.Slices = map[string]int64{}
	}
	return &st, nil
}

func (r *reconciler) saveState(ctx context.Context) error {
	r.state.UpdatedAt = r.now().UTC()
	b, err := json.Marshal(r.state)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PutTimeout)
	defer cancel()
	return r.e.store.put(pctx, stateKey(r.cfg.Prefix), b)
}

// sliceCounts counts the rows per slice of event time in [from, to) received before cutoff.
func (r *reconciler) sliceCounts(ctx context.Context, from, to, cutoff time.Time) (map[int64]int64, error) {
	out := map[int64]int64{}
	if !from.Before(to) {
		return out, nil
	}
	sec := int64(r.cfg.Reconcile.Slice / time.Second)
	q := fmt.Sprintf(`SELECT (floor(extract(epoch FROM "timestamp") / $4) * $4)::bigint, count(*) FROM %s
		WHERE "timestamp" >= $1 AND "timestamp" < $2 AND received_at < $3 GROUP BY 1`, pgx.Identifier{r.cfg.Reconcile.Table}.Sanitize())
	rows, err := r.conn.Query(ctx, q, from, to, cutoff, sec)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var s, n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// RangeResult is what one reconciliation of a time range found and did.
type RangeResult struct {
	// Rows in Postgres (received before the cutoff), Selected among them, Present in the store before, Missing
	// (selected and not present), Shipped by this run.
	Rows, Selected, Present, Missing, Shipped int64
}

type pending struct {
	id   string
	hour time.Time
	key  string
	body []byte
}

// reconcileRange reconciles the rows with event time in [from, to) received before cutoff.
func (r *reconciler) reconcileRange(ctx context.Context, from, to, cutoff time.Time) (RangeResult, error) {
	var res RangeResult
	q := auditstore.SelectRecords(r.cfg.Reconcile.Table) + ` WHERE "timestamp" >= $1 AND "timestamp" < $2 AND received_at < $3`
	var sel []pending
	err := auditstore.ReadRecords(ctx, r.conn, q, []any{from, to, cutoff}, func(e *integrity.Entry) error {
		res.Rows++
		if err := auditstore.DecodeStoredJSON(e); err != nil {
			return fmt.Errorf("decoding a stored record: %w", err)
		}
		rec := &e.Record
		if !r.e.sel.selectsRecord(ctx, rec) {
			return nil
		}
		d := newDecision(rec, "")
		body, err := d.body()
		if err != nil {
			return nil
		}
		hour, _ := d.hourOf()
		sel = append(sel, pending{id: d.DecisionID, hour: hour, key: objectKey(r.cfg.Prefix, &d), body: body})
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Selected = int64(len(sel))
	if len(sel) == 0 {
		return res, nil
	}
	var missing []pending
	if r.cfg.Layout == LayoutBatched {
		have := map[string]bool{}
		for _, h := range hoursOf(sel) {
			idx, err := r.hourIndex(ctx, h)
			if err != nil {
				return res, err
			}
			for id := range idx.ids {
				have[id] = true
			}
		}
		for _, p := range sel {
			if !have[p.id] {
				missing = append(missing, p)
			}
		}
	} else {
		have, err := r.presentKeys(ctx, sel)
		if err != nil {
			return res, err
		}
		for _, p := range sel {
			if !have[p.key] {
				missing = append(missing, p)
			}
		}
	}
	res.Present = res.Selected - int64(len(missing))
	res.Missing = int64(len(missing))
	if len(missing) == 0 {
		return res, nil
	}
	var objs []object
	if r.cfg.Layout == LayoutBatched {
		objs = r.batchObjects(missing)
	} else {
		for _, p := range missing {
			objs = append(objs, object{key: p.key, body: p.body, n: 1})
		}
	}
	shipped, err := r.putAll(ctx, objs)
	res.Shipped = shipped
	r.e.tb.S3decisionReconciled.Add(context.Background(), shipped)
	return res, err
}

func hoursOf(ps []pending) []time.Time {
	seen := map[int64]bool{}
	var out []time.Time
	for _, p := range ps {
		if !seen[p.hour.Unix()] {
			seen[p.hour.Unix()] = true
			out = append(out, p.hour)
		}
	}
	return out
}

// presentKeys lists which of the selected decisions' per-decision keys exist. Decision ids are UUIDv7s whose time
// is the event time, so in each day directory the keys sort by time: the listing starts just before the smallest
// id's millisecond and stops after the largest one's, whatever the slice.
func (r *reconciler) presentKeys(ctx context.Context, sel []pending) (map[string]bool, error) {
	type span struct{ lo, hi uint64 }
	days := map[string]*span{}
	for _, p := range sel {
		dir := p.key[:strings.LastIndexByte(p.key, '/')+1]
		ms := uuidMS(p.id)
		if sp := days[dir]; sp == nil {
			days[dir] = &span{ms, ms}
		} else {
			sp.lo, sp.hi = min(sp.lo, ms), max(sp.hi, ms)
		}
	}
	have := map[string]bool{}
	for dir, sp := range days {
		startAfter := dir + fmt.Sprintf("%08x-%04x", sp.lo>>16, sp.lo&0xffff)
		err := r.e.store.list(ctx, dir, startAfter, func(key string) bool {
			if uuidMS(strings.TrimSuffix(key[len(dir):], ".json")) > sp.hi {
				return false
			}
			have[key] = true
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return have, nil
}

// uuidMS is the 48-bit time of a UUIDv7 (0 for anything else, which sorts first).
func uuidMS(s string) uint64 {
	u, err := uuid.Parse(s)
	if err != nil {
		return 0
	}
	return uint64(u[0])<<40 | uint64(u[1])<<32 | uint64(u[2])<<24 | uint64(u[3])<<16 | uint64(u[4])<<8 | uint64(u[5])
}

// hourIndex lists an hour partition of the batched layout and reads the objects it has not read yet, so it knows
// every decision id the partition holds. Each object is read once per process.
func (r *reconciler) hourIndex(ctx context.Context, hour time.Time) (*hourIndex, error) {
	h := hour.UTC().Format("2006/01/02/15")
	idx := r.present[h]
	if idx == nil {
		idx = &hourIndex{keys: map[string]bool{}, ids: map[string]bool{}}
		r.present[h] = idx
	}
	prefix := hourPrefix(r.cfg.Prefix, hour, true)
	var fresh []string
	if err := r.e.store.list(ctx, prefix, "", func(key string) bool {
		if strings.HasSuffix(key, ".jsonl.gz") && !idx.keys[key] {
			fresh = append(fresh, key)
		}
		return true
	}); err != nil {
		return nil, err
	}
	for _, key := range fresh {
		ids, err := readBatchIDs(ctx, r.e.store, key)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", key, err)
		}
		for _, id := range ids {
			idx.ids[id] = true
		}
		idx.keys[key] = true
	}
	return idx, nil
}

// readBatchIDs reads the decision ids of a batched object.
func readBatchIDs(ctx context.Context, s store, key string) ([]string, error) {
	b, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var ids []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		var d struct {
			DecisionID string `json:"decision_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, err
		}
		ids = append(ids, d.DecisionID)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return ids, nil
}

// batchObjects packs the missing decisions of the batched layout: per hour, sorted by decision id, in objects of
// at most batch.max_records named after their first decision id.
func (r *reconciler) batchObjects(missing []pending) []object {
	sort.Slice(missing, func(i, j int) bool { return missing[i].id < missing[j].id })
	byHour := map[int64][]pending{}
	var hours []int64
	for _, p := range missing {
		h := p.hour.Unix()
		if byHour[h] == nil {
			hours = append(hours, h)
		}
		byHour[h] = append(byHour[h], p)
	}
	var out []object
	for _, h := range hours {
		ps := byHour[h]
		for len(ps) > 0 {
			n := min(len(ps), r.cfg.Batch.MaxRecords)
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, r.cfg.Batch.CompressionLevel) // the level was validated
			for _, p := range ps[:n] {
				_, _ = zw.Write(p.body)
				_, _ = zw.Write([]byte{'\n'})
			}
			_ = zw.Close()
			out = append(out, object{key: reconcilerBatchKey(r.cfg.Prefix, time.Unix(h, 0), ps[0].id), body: buf.Bytes(), n: int64(n)})
			ps = ps[n:]
		}
	}
	return out
}

// putAll puts the objects put_concurrency at a time, each bounded by put_timeout; it returns the decisions shipped
// and the first error (the pass stops there: the store is failing).
func (r *reconciler) putAll(ctx context.Context, objs []object) (int64, error) {
	var (
		mu       sync.Mutex
		shipped  int64
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan object)
	for range min(r.cfg.Reconcile.PutConcurrency, len(objs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				pctx, cancel := context.WithTimeout(ctx, r.cfg.PutTimeout)
				err := r.e.store.put(pctx, o.key, o.body)
				cancel()
				mu.Lock()
				if err == nil {
					shipped += o.n
				} else if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, o := range objs {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		work <- o
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return shipped, firstErr
}

// Backfill reconciles the event-time range [since, until) once, for operators (`govctl decisions backfill`): every
// selected decision stored in Postgres (received at least reconcile.settle ago) that the store lacks is put, as
// the reconciler would. It neither reads nor moves the watermark. In the batched layout it needs the reconciler's
// advisory lock (two writers of reconciler objects could each ship the same missing decision), so it refuses to
// run while a collector's reconciler for the same bucket and prefix is active; per-decision keys are idempotent and
// need no lock.
func Backfill(ctx context.Context, cfg *Config, since, until time.Time, logger *zap.Logger) (RangeResult, error) {
	var total RangeResult
	if err := cfg.Validate(); err != nil {
		return total, err
	}
	if cfg.Reconcile.PostgresDSN == "" {
		return total, errors.New("reconcile.postgres_dsn is required")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	set := component.TelemetrySettings{Logger: logger, MeterProvider: metricnoop.NewMeterProvider(),
		TracerProvider: tracenoop.NewTracerProvider(), Resource: pcommon.NewResource()}
	e, err := newDecisionExporter(cfg, set)
	if err != nil {
		return total, err
	}
	if cfg.LocalDir != "" {
		e.store = newDirStore(cfg.LocalDir)
	} else if e.store, err = newS3Store(ctx, cfg); err != nil {
		return total, err
	}
	r, _ := newReconciler(e)
	defer r.close()
	active, err := r.connect(ctx)
	if err != nil {
		return total, err
	}
	if !active && cfg.Layout == LayoutBatched {
		return total, errors.New("another reconciler holds the lock for this bucket and prefix (batched layout): stop it or wait for it to catch up")
	}
	cutoff := time.Now().Add(-cfg.Reconcile.Settle)
	for s := since.UTC().Truncate(cfg.Reconcile.Slice); s.Before(until); s = s.Add(cfg.Reconcile.Slice) {
		from, to := s, s.Add(cfg.Reconcile.Slice)
		from, to = maxTime(from, since), minTime(to, until)
		res, err := r.reconcileRange(ctx, from, to, cutoff)
		total.Rows += res.Rows
		total.Selected += res.Selected
		total.Present += res.Present
		total.Missing += res.Missing
		total.Shipped += res.Shipped
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
