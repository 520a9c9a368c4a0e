package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// loadRequest is one OTLP export request: --batch copies of the session, sent as is by every attempt.
type loadRequest struct {
	dev      int
	logs     plog.Logs
	body     []byte // the OTLP/HTTP protobuf body, marshalled by the first attempt
	sessions []string
	events   int64
}

// A sender makes one attempt at a request: nil once acknowledged, an error classify understands otherwise.
type sender func(ctx context.Context, r *loadRequest) error

// loadGen is one `govctl load` run.
type loadGen struct {
	o        loadOptions
	send     sender
	base     plog.Logs
	perCopy  int64
	acks     *ackLog
	runID    string
	epoch    time.Time
	deadline time.Time       // no request or retry starts after it
	parent   context.Context // the caller's: attempts end with it, or --drain after the deadline
	run      context.Context // done at the deadline

	seq, requests, sent, acked, retries, lateStarts, inFlight, maxInFlight atomic.Int64

	// failed counts events by the failure class of their request's last attempt.
	failed [failedTransport + 1]atomic.Int64

	mu       sync.Mutex
	lat      []time.Duration
	firstErr string
}

// closedLoop runs --concurrency workers, each sending its next request once the last one is done.
func (g *loadGen) closedLoop() {
	var wg sync.WaitGroup
	for range g.o.concurrency {
		wg.Go(func() {
			for g.run.Err() == nil && g.reserve() {
				g.do(g.build())
			}
		})
	}
	wg.Wait()
}

// reserve takes a request's events from the --max-events budget.
func (g *loadGen) reserve() bool {
	n := g.perCopy * int64(g.o.batch)
	if g.sent.Add(n) > g.o.maxEvents {
		g.sent.Add(-n)
		return false
	}
	return true
}

// openLoop starts request k at start + k*interval in its own goroutine, whatever the earlier requests are doing, so
// the offered load is --rate however slow the answers are; only --max-in-flight holds a request back (a late start).
func (g *loadGen) openLoop(start time.Time) {
	interval := float64(g.perCopy*int64(g.o.batch)) / g.o.rate * float64(time.Second)
	slots := make(chan struct{}, g.o.maxInFlight)
	var wg sync.WaitGroup
	var freedAt time.Time // when the scheduler last got a slot it had to wait for
schedule:
	for k := int64(0); ; k++ {
		due := start.Add(time.Duration(float64(k) * interval))
		if !due.Before(g.deadline) {
			sleepUntil(g.run, g.deadline) // the run lasts --duration, as the offered load is per second of it
			break
		}
		if !sleepUntil(g.run, due) || !g.reserve() {
			break
		}
		late := due.Before(freedAt) // due while the scheduler waited for an earlier request's slot
		select {
		case slots <- struct{}{}:
		default:
			late = true
			select {
			case slots <- struct{}{}:
				freedAt = time.Now()
			case <-g.run.Done():
				g.sent.Add(-g.perCopy * int64(g.o.batch))
				break schedule
			}
		}
		if late {
			g.lateStarts.Add(1)
		}
		wg.Go(func() {
			defer func() { <-slots }()
			g.do(g.build())
		})
	}
	wg.Wait()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	if d := time.Until(t); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}

// build makes the next request: --batch new copies of the session, for the next developer in turn.
func (g *loadGen) build() *loadRequest {
	r := &loadRequest{dev: int(g.requests.Add(1)) % g.o.developers, logs: plog.NewLogs(),
		events: g.perCopy * int64(g.o.batch), sessions: make([]string, 0, g.o.batch)}
	for range g.o.batch {
		c := g.seq.Add(1)
		id := fmt.Sprintf("load-%s-%d", g.runID, c)
		appendCopy(r.logs, g.base, id, g.epoch.Add(time.Duration(c)*time.Millisecond))
		r.sessions = append(r.sessions, id)
	}
	return r
}

// do sends r until it is acknowledged, refused for good, or (--retry) the deadline passes, and accounts for it.
func (g *loadGen) do(r *loadRequest) {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for m := g.maxInFlight.Load(); n > m && !g.maxInFlight.CompareAndSwap(m, n); m = g.maxInFlight.Load() {
	}
	for attempt := 0; ; attempt++ {
		end := time.Now().Add(attemptTimeout)
		if drain := g.deadline.Add(g.o.drain); drain.Before(end) {
			end = drain
		}
		ctx, cancel := context.WithDeadline(g.parent, end)
		t0 := time.Now()
		err := g.send(ctx, r)
		d := time.Since(t0)
		cancel()
		class, wait := classify(err)
		if class == ackOK {
			g.acked.Add(r.events)
			g.mu.Lock()
			g.lat = append(g.lat, d)
			g.mu.Unlock()
			g.acks.write(r.sessions)
			return
		}
		g.mu.Lock()
		if g.firstErr == "" {
			g.firstErr = err.Error()
		}
		g.mu.Unlock()
		if !g.o.retry || class == failedPermanent || !g.backoff(attempt, wait) {
			g.failed[class].Add(r.events)
			return
		}
		g.retries.Add(1)
	}
}

// backoff waits before re-send attempt+1: 100ms doubling up to 2s, ±20% jitter, or longer when the collector asked
// for longer (wait). False, at once, when the re-send would come after the deadline.
func (g *loadGen) backoff(attempt int, wait time.Duration) bool {
	d := min(retryMax, retryMin<<min(attempt, 5))
	d = max(retryMin, min(retryMax, d*4/5+rand.N(d*2/5+1)))
	d = max(d, wait)
	if time.Now().Add(d).After(g.deadline) {
		return false
	}
	return sleepUntil(g.run, time.Now().Add(d))
}

func devEmail(dev int) string { return fmt.Sprintf("dev-%d@load.example", dev) }

// appendCopy adds one copy of the session at time at: every timestamp moved to keep the session's internal spacing,
// the session id the copy's own, so the governed records get new ids.
func appendCopy(dst, base plog.Logs, session string, at time.Time) {
	first := firstTime(base)
	shift := at.Sub(first)
	start := dst.ResourceLogs().Len()
	for _, rl := range base.ResourceLogs().All() {
		rl.CopyTo(dst.ResourceLogs().AppendEmpty())
	}
	for i := start; i < dst.ResourceLogs().Len(); i++ {
		for _, sl := range dst.ResourceLogs().At(i).ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.Timestamp() != 0 {
					lr.SetTimestamp(pcommon.NewTimestampFromTime(lr.Timestamp().AsTime().Add(shift)))
				}
				if lr.ObservedTimestamp() != 0 {
					lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(lr.ObservedTimestamp().AsTime().Add(shift)))
				}
				lr.Attributes().PutStr("session.id", session)
			}
		}
	}
}

func firstTime(ld plog.Logs) time.Time {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.Timestamp() != 0 {
					return lr.Timestamp().AsTime()
				}
			}
		}
	}
	return time.Unix(0, 0)
}

// ackLog is --acked-file: one line per acknowledged copy, its session id.
type ackLog struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error
}

func createAckLog(path string) (*ackLog, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--acked-file: %w", err)
	}
	return &ackLog{f: f, w: bufio.NewWriter(f)}, nil
}

func (a *ackLog) write(sessions []string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range sessions {
		if a.err == nil {
			_, a.err = a.w.WriteString(s + "\n")
		}
	}
}

func (a *ackLog) close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return errors.Join(a.err, a.w.Flush(), a.f.Sync(), a.f.Close())
}
