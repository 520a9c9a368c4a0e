package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/govcol/govcol"
)

const (
	// attemptTimeout bounds one send: no response by then is a transport failure.
	attemptTimeout = 30 * time.Second
	// defaultDrain is how long requests in flight at --duration still get to be answered (--drain): no request or
	// retry starts after --duration, but cutting off the ones under way would charge the collector with failures the
	// generator made. maxDrain bounds it, like --duration, so a run always ends.
	defaultDrain, maxDrain = 5 * time.Second, 5 * time.Minute
	// retryMin and retryMax bound the --retry backoff (exponential, jittered).
	retryMin, retryMax = 100 * time.Millisecond, 2 * time.Second
	// maxRate bounds --rate (events per second).
	maxRate = 10_000_000
)

type loadOptions struct {
	endpoint, protocol, license, licenseFile, ackedFile string
	developers, concurrency, batch, maxInFlight         int
	rate                                                float64
	duration                                            time.Duration
	drain                                               time.Duration
	maxEvents                                           int64
	retry, asJSON                                       bool
}

// loadResult is what `govctl load` reports.
type loadResult struct {
	Protocol   string `json:"protocol"`
	RunID      string `json:"run_id"`
	Developers int    `json:"developers"`
	// RateTarget is the offered load of an open-loop run in events/s; 0 for a closed loop.
	RateTarget float64 `json:"rate_target"`
	// Requests counts distinct requests; Retries the re-sends of them (--retry).
	Requests int64 `json:"requests"`
	Retries  int64 `json:"retries"`
	// LateStarts counts open-loop requests that could not start at their slot: --max-in-flight were in flight.
	LateStarts int64 `json:"late_starts"`
	// MaxInFlight is the most requests observed in flight at once (a request waiting to be retried is in flight).
	MaxInFlight int64 `json:"max_in_flight"`
	// EventsSent counts every event once, however many times its request was sent.
	EventsSent  int64 `json:"events_sent"`
	EventsAcked int64 `json:"events_acked"`
	// EventsFailed is the sum of the three failure classes below; an event counts in the class of its request's
	// last attempt.
	EventsFailed int64 `json:"events_failed"`
	// EventsRefusedRetryable: the collector answered with a status the OTLP spec calls retryable (it was busy).
	EventsRefusedRetryable int64 `json:"events_refused_retryable"`
	// EventsFailedPermanent: the collector answered with any other error status.
	EventsFailedPermanent int64 `json:"events_failed_permanent"`
	// EventsFailedTransport: no answer (connection refused or reset, timeout): the collector was down.
	EventsFailedTransport int64   `json:"events_failed_transport"`
	Seconds               float64 `json:"seconds"`
	EventsPerSec          float64 `json:"events_per_second"`
	P50ms                 float64 `json:"ack_latency_p50_ms"`
	P90ms                 float64 `json:"ack_latency_p90_ms"`
	P99ms                 float64 `json:"ack_latency_p99_ms"`
	// FirstError is the first failure (status and message) of any attempt, if any, even one a retry made good.
	FirstError string `json:"first_error,omitempty"`
}

func newLoadCommand() *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   "load",
		Short: "OTLP load generator: replays real Claude Code event mixes for many simulated developers",
		Long: "Sends the captured Claude Code 2.1.330 session (11 events per copy, --batch copies per request) to a " +
			"collector over OTLP/HTTP (protobuf) or OTLP/gRPC, as --developers simulated developers (X-User-Email " +
			"dev-N@load.example). Every copy is shifted to a new time and gets its own session id, load-<run>-<copy> " +
			"(<run> a random id per invocation, reported as run_id), so each event is new.\n\n" +
			"Without --rate the load is a closed loop: --concurrency workers each send a request and wait for its answer. " +
			"With --rate N it is an open loop: request k starts at k x batch x 11 / N seconds in its own goroutine, " +
			"whatever the earlier ones are doing, so the latency is measured at a fixed offered load; when " +
			"--max-in-flight requests are already in flight a request waits and counts as a late start.\n\n" +
			"Failures are classified the OTLP way: refused retryable (HTTP 429/502/503/504; gRPC Canceled, " +
			"DeadlineExceeded, Aborted, OutOfRange, Unavailable, DataLoss, and ResourceExhausted with RetryInfo), " +
			"failed permanent (any other status), failed transport (no answer: connection refused or reset, timeout). " +
			"With --retry a request refused retryably or lost in transport is re-sent as is, with exponential backoff " +
			"from 100ms to 2s (jittered; longer if the collector's Retry-After or RetryInfo asks), until it is " +
			"acknowledged or --duration passes, as a real OTLP exporter does. --acked-file lists the session id of " +
			"every acknowledged copy, one a line, written once the acknowledgement arrived.\n\n" +
			"Bounded: no request or retry starts after --duration or beyond --max-events; requests in flight at " +
			"--duration get up to --drain more to be answered. Reports events sent, acknowledged and failed by class, " +
			"retries, late starts, throughput and the p50/p90/p99 latency from a request's send to its acknowledgement " +
			"(the acknowledged attempt's).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := runLoad(cmd.Context(), o)
			if err != nil {
				return err
			}
			if cmd.Context().Err() != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "govctl load: interrupted; the result (and --acked-file) covers the run until then")
			}
			if o.asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			mode := fmt.Sprintf("closed loop of %d workers", o.concurrency)
			if res.RateTarget > 0 {
				mode = fmt.Sprintf("open loop at %.0f events/s", res.RateTarget)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s, run %s): %d developers, %d requests, %d retries, %d late starts, "+
				"max %d in flight, %d events sent, %d acknowledged, %d failed (%d refused retryable, %d permanent, "+
				"%d transport) in %.1fs (%.0f events/s), ack latency p50 %.1f ms p90 %.1f ms p99 %.1f ms\n",
				res.Protocol, mode, res.RunID, res.Developers, res.Requests, res.Retries, res.LateStarts, res.MaxInFlight,
				res.EventsSent, res.EventsAcked, res.EventsFailed, res.EventsRefusedRetryable, res.EventsFailedPermanent,
				res.EventsFailedTransport, res.Seconds, res.EventsPerSec, res.P50ms, res.P90ms, res.P99ms)
			if res.FirstError != "" {
				fmt.Fprintln(cmd.OutOrStdout(), "first error:", res.FirstError)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:4318", "OTLP endpoint: http://host:port for http, host:port for grpc")
	f.StringVar(&o.protocol, "protocol", "http", "http (protobuf) or grpc")
	f.StringVar(&o.license, "license", "", "license sent as Authorization: Bearer")
	f.StringVar(&o.licenseFile, "license-file", "", "file holding the license")
	f.IntVar(&o.developers, "developers", 10, "simulated developers")
	f.IntVar(&o.concurrency, "concurrency", 4, "closed loop (no --rate): concurrent workers, each with one request in flight")
	f.IntVar(&o.batch, "batch", 10, "session copies per request (11 events each)")
	f.Float64Var(&o.rate, "rate", 0, "open loop: offered load in events/s (0: closed loop of --concurrency workers)")
	f.IntVar(&o.maxInFlight, "max-in-flight", 256, "open loop: most requests in flight; a request due beyond it waits (a late start)")
	f.BoolVar(&o.retry, "retry", false, "re-send requests refused retryably or lost in transport, with backoff, until acknowledged or --duration")
	f.StringVar(&o.ackedFile, "acked-file", "", "write the session id of every acknowledged copy to this file, one a line")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "stop after this long")
	f.DurationVar(&o.drain, "drain", defaultDrain, "after --duration, how long requests in flight still get to be answered")
	f.Int64Var(&o.maxEvents, "max-events", 100_000, "stop after this many events")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	return cmd
}

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

func runLoad(ctx context.Context, o loadOptions) (*loadResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	lic := strings.TrimSpace(o.license)
	if lic == "" && o.licenseFile != "" {
		b, err := os.ReadFile(o.licenseFile)
		if err != nil {
			return nil, err
		}
		lic = strings.TrimSpace(string(b))
	}
	switch {
	case lic == "":
		return nil, errors.New("--license or --license-file is required")
	case o.developers < 1 || o.concurrency < 1 || o.batch < 1 || o.batch > 1000:
		return nil, errors.New("--developers and --concurrency must be positive, --batch between 1 and 1000")
	case o.duration <= 0 || o.duration > time.Hour || o.maxEvents < 1:
		return nil, errors.New("--duration must be in (0, 1h] and --max-events positive: load runs are bounded")
	case o.drain < 0 || o.drain > maxDrain:
		return nil, fmt.Errorf("--drain must be in [0, %s]", maxDrain)
	case !(o.rate >= 0 && o.rate <= maxRate): // also refuses NaN
		return nil, fmt.Errorf("--rate must be between 0 (closed loop) and %d events/s", maxRate)
	case o.maxInFlight < 1 || o.maxInFlight > 10_000:
		return nil, errors.New("--max-in-flight must be between 1 and 10000")
	}
	base, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(govcol.ClaudeCodeLogsJSON)
	if err != nil {
		return nil, err
	}
	var send sender
	switch o.protocol {
	case "http":
		send = httpSender(o.endpoint, lic, max(o.concurrency, o.maxInFlight))
	case "grpc":
		conn, err := grpc.NewClient(o.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(answerWatch{}))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		send = grpcSender(plogotlp.NewGRPCClient(conn), lic)
	default:
		return nil, fmt.Errorf("--protocol %q: use http or grpc", o.protocol)
	}
	acks, err := createAckLog(o.ackedFile)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	g := &loadGen{
		o: o, send: send, base: base, perCopy: int64(base.LogRecordCount()), acks: acks,
		runID:    fmt.Sprintf("%08x", rand.Uint32()),
		epoch:    start.Add(-time.Hour), // copies are spread over the past hour, one millisecond apart
		deadline: start.Add(o.duration),
		parent:   ctx,
	}
	var cancel context.CancelFunc
	g.run, cancel = context.WithDeadline(ctx, g.deadline)
	defer cancel()
	if o.rate > 0 {
		g.openLoop(start)
	} else {
		g.closedLoop()
	}
	if err := acks.close(); err != nil {
		return nil, fmt.Errorf("--acked-file: %w", err)
	}

	res := &loadResult{
		Protocol: o.protocol, RunID: g.runID, Developers: o.developers, RateTarget: o.rate,
		Seconds:  time.Since(start).Seconds(),
		Requests: g.requests.Load(), Retries: g.retries.Load(), LateStarts: g.lateStarts.Load(),
		MaxInFlight: g.maxInFlight.Load(), EventsSent: g.sent.Load(), EventsAcked: g.acked.Load(),
		EventsRefusedRetryable: g.failed[refusedRetryable].Load(),
		EventsFailedPermanent:  g.failed[failedPermanent].Load(),
		EventsFailedTransport:  g.failed[failedTransport].Load(),
		FirstError:             g.firstErr,
	}
	res.EventsFailed = res.EventsRefusedRetryable + res.EventsFailedPermanent + res.EventsFailedTransport
	if res.Seconds > 0 {
		res.EventsPerSec = float64(res.EventsAcked) / res.Seconds
	}
	slices.Sort(g.lat)
	if n := len(g.lat); n > 0 {
		pct := func(q int) float64 { return float64(g.lat[min(n-1, n*q/100)].Microseconds()) / 1000 }
		res.P50ms, res.P90ms, res.P99ms = pct(50), pct(90), pct(99)
	}
	return res, nil
}

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

// failClass is the outcome of an attempt.
type failClass int

const (
	ackOK failClass = iota
	// refusedRetryable: the collector answered with a status the OTLP spec says to retry.
	refusedRetryable
	// failedPermanent: the collector answered with another error status; retrying cannot help.
	failedPermanent
	// failedTransport: no answer came (connection refused or reset, timeout): the collector was down or unreachable.
	failedTransport
)

// classify sorts an attempt's outcome per the OTLP specification's retryable responses, and returns how long the
// collector asked to wait before a retry (HTTP Retry-After, gRPC RetryInfo), if it did.
func classify(err error) (failClass, time.Duration) {
	if err == nil {
		return ackOK, 0
	}
	var he *httpStatusError
	if errors.As(err, &he) {
		switch he.code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return refusedRetryable, he.retryAfter
		}
		return failedPermanent, 0
	}
	var te *transportError
	if errors.As(err, &te) {
		return failedTransport, 0
	}
	st, ok := status.FromError(err)
	if !ok { // not a status: the HTTP client's network errors
		return failedTransport, 0
	}
	var wait time.Duration
	retryInfo := false
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retryInfo, wait = true, ri.GetRetryDelay().AsDuration()
		}
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return refusedRetryable, wait
	case codes.ResourceExhausted:
		// The spec: retryable only when the server says when to come back (RetryInfo); else it is a permanent limit.
		if retryInfo {
			return refusedRetryable, wait
		}
	}
	return failedPermanent, 0
}

// httpStatusError is an OTLP/HTTP answer other than 200.
type httpStatusError struct {
	code       int
	msg        string
	retryAfter time.Duration
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

// transportError is a gRPC error the server did not send (the client's transport made it up: no connection, reset,
// deadline), so a transport failure whatever its code.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

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

// httpSender posts to <endpoint>/v1/logs, keeping up to conns idle connections so that an open loop does not
// reconnect for every request.
func httpSender(endpoint, lic string, conns int) sender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
	client := &http.Client{Transport: tr}
	url := strings.TrimRight(endpoint, "/") + "/v1/logs"
	return func(ctx context.Context, r *loadRequest) error {
		if r.body == nil {
			body, err := plogotlp.NewExportRequestFromLogs(r.logs).MarshalProto()
			if err != nil {
				return err
			}
			r.body = body
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+lic)
		req.Header.Set("X-User-Email", devEmail(r.dev))
		req.Header.Set("X-Axonflow-Client", "claude-code")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so that the connection is reused
		if resp.StatusCode != http.StatusOK {
			return &httpStatusError{code: resp.StatusCode, msg: strings.TrimSpace(string(msg)),
				retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
		}
		return nil
	}
}

// parseRetryAfter reads an HTTP Retry-After: delay seconds or a date.
func parseRetryAfter(v string) time.Duration {
	if v = strings.TrimSpace(v); v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

func grpcSender(client plogotlp.GRPCClient, lic string) sender {
	return func(ctx context.Context, r *loadRequest) error {
		var answered atomic.Bool
		ctx = context.WithValue(ctx, answeredKey{}, &answered)
		md := metadata.Pairs("authorization", "Bearer "+lic, "x-user-email", devEmail(r.dev), "x-axonflow-client", "claude-code")
		_, err := client.Export(metadata.NewOutgoingContext(ctx, md), plogotlp.NewExportRequestFromLogs(r.logs))
		if err != nil && (!answered.Load() || ctx.Err() != nil) {
			return &transportError{err}
		}
		return err
	}
}

type answeredKey struct{}

// answerWatch marks an RPC answered (the *atomic.Bool under answeredKey in its context) when the server's status
// trailers arrive. gRPC reports a refused or reset connection as Unavailable too; only the trailers tell a collector
// that said Unavailable from one that could not be reached.
type answerWatch struct{}

func (answerWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (answerWatch) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InTrailer); ok {
		if a, ok := ctx.Value(answeredKey{}).(*atomic.Bool); ok {
			a.Store(true)
		}
	}
}

func (answerWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (answerWatch) HandleConn(context.Context, stats.ConnStats)                       {}

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
