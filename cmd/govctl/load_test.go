package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// otlpSink is a collector stand-in: it decodes every request and answers per answer(n), n the 1-based request count.
type otlpSink struct {
	mu       sync.Mutex
	requests int
	acked    map[string]int // session id → records, over the requests answered OK
	emails   map[string]bool
}

func newSink() *otlpSink { return &otlpSink{acked: map[string]int{}, emails: map[string]bool{}} }

// receive counts a request and, when ok, records its sessions; it returns the request's number.
func (s *otlpSink) receive(ld plog.Logs, email string, ok func(n int) bool) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	n := s.requests
	if !ok(n) {
		return n, false
	}
	s.emails[email] = true
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				v, _ := lr.Attributes().Get("session.id")
				s.acked[v.Str()]++
			}
		}
	}
	return n, true
}

func (s *otlpSink) snapshot() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, maps.Clone(s.acked)
}

// httpSink serves OTLP/HTTP; status(n) is the answer to the n-th request.
func httpSink(t *testing.T, status func(n int) int) (*otlpSink, string) {
	s := newSink()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		code := 0
		s.receive(req.Logs(), r.Header.Get("X-User-Email"), func(n int) bool { code = status(n); return code == http.StatusOK })
		if code != http.StatusOK {
			http.Error(w, http.StatusText(code), code)
			return
		}
		resp, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

type grpcSinkServer struct {
	plogotlp.UnimplementedGRPCServer
	sink   *otlpSink
	answer func(n int) error
}

func (g *grpcSinkServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	var err error
	g.sink.receive(req.Logs(), "", func(n int) bool { err = g.answer(n); return err == nil })
	return plogotlp.NewExportResponse(), err
}

// grpcSink serves OTLP/gRPC on a 127.0.0.1 port; answer(n) is the error for the n-th request, nil for OK.
func grpcSink(t *testing.T, answer func(n int) error) (*otlpSink, string) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	s := newSink()
	plogotlp.RegisterGRPCServer(srv, &grpcSinkServer{sink: s, answer: answer})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s, lis.Addr().String()
}

// stoppedEndpoint is an address nothing listens on any more.
func stoppedEndpoint(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

// runLoadCmd runs `govctl load --json` with args and decodes its result.
func runLoadCmd(t *testing.T, args ...string) loadResult {
	t.Helper()
	cmd := newLoadCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(append([]string{"--license", "test-license", "--developers", "3", "--json"}, args...))
	require.NoError(t, cmd.Execute())
	var r loadResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &r), "%s", out.String())
	t.Logf("%s", out.String())
	return r
}

func always[T any](answer T) func(int) T { return func(int) T { return answer } }

// firstN answers bad to the first k requests, then good.
func firstN[T any](k int, bad, good T) func(int) T {
	return func(n int) T {
		if n <= k {
			return bad
		}
		return good
	}
}

func TestLoadOpenLoopRate(t *testing.T) {
	sink, url := httpSink(t, always(http.StatusOK))
	r := runLoadCmd(t, "--endpoint", url, "--rate", "2200", "--duration", "1s")
	assert.InDelta(t, 2200, r.EventsAcked, 0.3*2200, "an open loop offers --rate events/s")
	assert.Equal(t, r.EventsSent, r.EventsAcked)
	assert.Zero(t, r.EventsFailed)
	assert.EqualValues(t, 2200, r.RateTarget)
	assert.Equal(t, r.EventsAcked/110, r.Requests)
	assert.Positive(t, r.P50ms)
	assert.GreaterOrEqual(t, r.P90ms, r.P50ms)
	assert.GreaterOrEqual(t, r.P99ms, r.P90ms)
	assert.Positive(t, r.MaxInFlight)
	assert.LessOrEqual(t, r.MaxInFlight, int64(256))
	assert.Positive(t, r.EventsPerSec)
	requests, acked := sink.snapshot()
	assert.EqualValues(t, r.Requests, requests)
	assert.Len(t, acked, int(r.EventsAcked/11))
}

func TestLoadOpenLoopLateStarts(t *testing.T) {
	// One request in flight at most against a server that takes 50ms: requests due every ~5ms start late.
	sink, url := httpSink(t, func(int) int { time.Sleep(50 * time.Millisecond); return http.StatusOK })
	r := runLoadCmd(t, "--endpoint", url, "--rate", "22000", "--max-in-flight", "1", "--duration", "500ms")
	assert.Positive(t, r.LateStarts)
	assert.EqualValues(t, 1, r.MaxInFlight)
	assert.Less(t, r.EventsAcked, int64(11000), "the in-flight cap holds the offered load back")
	assert.Equal(t, r.EventsSent, r.EventsAcked)
	requests, _ := sink.snapshot()
	assert.EqualValues(t, r.Requests, requests)
}

func TestLoadHTTPRetryable(t *testing.T) {
	const k = 3
	t.Run("no retry", func(t *testing.T) {
		sink, url := httpSink(t, firstN(k, http.StatusServiceUnavailable, http.StatusOK))
		r := runLoadCmd(t, "--endpoint", url, "--max-events", "1100", "--duration", "5s")
		assert.EqualValues(t, 1100, r.EventsSent)
		assert.EqualValues(t, k*110, r.EventsRefusedRetryable)
		assert.EqualValues(t, k*110, r.EventsFailed)
		assert.Zero(t, r.EventsFailedPermanent+r.EventsFailedTransport+r.Retries)
		assert.EqualValues(t, 1100-k*110, r.EventsAcked)
		assert.Contains(t, r.FirstError, "HTTP 503")
		requests, _ := sink.snapshot()
		assert.Equal(t, 10, requests)
	})
	t.Run("retry", func(t *testing.T) {
		sink, url := httpSink(t, firstN(k, http.StatusServiceUnavailable, http.StatusOK))
		r := runLoadCmd(t, "--endpoint", url, "--max-events", "1100", "--duration", "5s", "--retry")
		assert.EqualValues(t, 1100, r.EventsSent, "an event is sent once however often its request is")
		assert.EqualValues(t, 1100, r.EventsAcked)
		assert.Zero(t, r.EventsFailed)
		assert.GreaterOrEqual(t, r.Retries, int64(k))
		assert.EqualValues(t, 10, r.Requests)
		requests, acked := sink.snapshot()
		assert.EqualValues(t, r.Requests+r.Retries, requests)
		assert.Len(t, acked, 100, "every copy acknowledged once, the re-sends the same copies")
		for id, n := range acked {
			assert.Equal(t, 11, n, id)
		}
	})
}

func TestLoadHTTPPermanent(t *testing.T) {
	sink, url := httpSink(t, always(http.StatusBadRequest))
	r := runLoadCmd(t, "--endpoint", url, "--max-events", "550", "--duration", "5s", "--retry")
	assert.EqualValues(t, 550, r.EventsFailedPermanent)
	assert.EqualValues(t, 550, r.EventsFailed)
	assert.Zero(t, r.EventsAcked+r.EventsRefusedRetryable+r.EventsFailedTransport)
	assert.Zero(t, r.Retries, "a permanent failure is never retried")
	assert.Contains(t, r.FirstError, "HTTP 400")
	requests, _ := sink.snapshot()
	assert.Equal(t, 5, requests)
}

func TestLoadHTTPTransport(t *testing.T) {
	url := "http://" + stoppedEndpoint(t)
	r := runLoadCmd(t, "--endpoint", url, "--max-events", "550", "--duration", "5s")
	assert.EqualValues(t, 550, r.EventsFailedTransport)
	assert.EqualValues(t, 550, r.EventsFailed)
	assert.Zero(t, r.EventsAcked+r.EventsRefusedRetryable+r.EventsFailedPermanent)
	assert.NotEmpty(t, r.FirstError)

	// With --retry the requests are re-sent until the deadline, then count as failed in their last class.
	r = runLoadCmd(t, "--endpoint", url, "--max-events", "550", "--duration", "700ms", "--retry", "--rate", "1100")
	assert.EqualValues(t, r.EventsSent, r.EventsFailedTransport)
	assert.Positive(t, r.EventsSent)
	assert.Positive(t, r.Retries)
	assert.Zero(t, r.EventsAcked)
}

func TestLoadGRPC(t *testing.T) {
	const k = 3
	unavailable := status.Error(codes.Unavailable, "busy")
	t.Run("retryable without retry", func(t *testing.T) {
		_, addr := grpcSink(t, firstN(k, unavailable, nil))
		r := runLoadCmd(t, "--protocol", "grpc", "--endpoint", addr, "--max-events", "1100", "--concurrency", "1")
		assert.EqualValues(t, k*110, r.EventsRefusedRetryable, "the server's Unavailable is a refusal, not a transport failure")
		assert.EqualValues(t, 1100-k*110, r.EventsAcked)
		assert.Contains(t, r.FirstError, "busy")
	})
	t.Run("retry", func(t *testing.T) {
		sink, addr := grpcSink(t, firstN(k, unavailable, nil))
		r := runLoadCmd(t, "--protocol", "grpc", "--endpoint", addr, "--max-events", "1100", "--retry")
		assert.EqualValues(t, 1100, r.EventsAcked)
		assert.Zero(t, r.EventsFailed)
		assert.GreaterOrEqual(t, r.Retries, int64(k))
		_, acked := sink.snapshot()
		assert.Len(t, acked, 100)
	})
	t.Run("permanent", func(t *testing.T) {
		_, addr := grpcSink(t, always(status.Error(codes.InvalidArgument, "no")))
		r := runLoadCmd(t, "--protocol", "grpc", "--endpoint", addr, "--max-events", "550", "--retry")
		assert.EqualValues(t, 550, r.EventsFailedPermanent)
		assert.Zero(t, r.Retries)
	})
	t.Run("transport", func(t *testing.T) {
		r := runLoadCmd(t, "--protocol", "grpc", "--endpoint", stoppedEndpoint(t), "--max-events", "550", "--duration", "5s")
		assert.EqualValues(t, 550, r.EventsFailedTransport, "a refused connection is a transport failure, though gRPC calls it Unavailable")
		assert.Zero(t, r.EventsRefusedRetryable)
	})
}

func TestLoadClassify(t *testing.T) {
	withRetryInfo, err := status.New(codes.ResourceExhausted, "slow down").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(250 * time.Millisecond)})
	require.NoError(t, err)
	for _, c := range []struct {
		err   error
		class failClass
		wait  time.Duration
	}{
		{nil, ackOK, 0},
		{&httpStatusError{code: 429, retryAfter: time.Second}, refusedRetryable, time.Second},
		{&httpStatusError{code: 502}, refusedRetryable, 0},
		{&httpStatusError{code: 503}, refusedRetryable, 0},
		{&httpStatusError{code: 504}, refusedRetryable, 0},
		{&httpStatusError{code: 400}, failedPermanent, 0},
		{&httpStatusError{code: 401}, failedPermanent, 0},
		{&httpStatusError{code: 500}, failedPermanent, 0},
		{errors.New("dial tcp: connection refused"), failedTransport, 0},
		{&transportError{status.Error(codes.Unavailable, "connection refused")}, failedTransport, 0},
		{status.Error(codes.Unavailable, "x"), refusedRetryable, 0},
		{status.Error(codes.Canceled, "x"), refusedRetryable, 0},
		{status.Error(codes.DeadlineExceeded, "x"), refusedRetryable, 0},
		{status.Error(codes.Aborted, "x"), refusedRetryable, 0},
		{status.Error(codes.OutOfRange, "x"), refusedRetryable, 0},
		{status.Error(codes.DataLoss, "x"), refusedRetryable, 0},
		{status.Error(codes.ResourceExhausted, "x"), failedPermanent, 0},
		{withRetryInfo.Err(), refusedRetryable, 250 * time.Millisecond},
		{status.Error(codes.InvalidArgument, "x"), failedPermanent, 0},
		{status.Error(codes.Unauthenticated, "x"), failedPermanent, 0},
		{status.Error(codes.Internal, "x"), failedPermanent, 0},
	} {
		class, wait := classify(c.err)
		assert.Equal(t, c.class, class, "%v", c.err)
		assert.Equal(t, c.wait, wait, "%v", c.err)
	}
	assert.Equal(t, 3*time.Second, parseRetryAfter("3"))
	assert.Zero(t, parseRetryAfter("soon"))
}

func TestLoadAckedFile(t *testing.T) {
	const k = 2
	sink, url := httpSink(t, firstN(k, http.StatusServiceUnavailable, http.StatusOK))
	path := filepath.Join(t.TempDir(), "acked.txt")
	require.NoError(t, os.WriteFile(path, []byte("stale line\n"), 0o600))
	r := runLoadCmd(t, "--endpoint", url, "--max-events", "2200", "--duration", "5s", "--acked-file", path)
	require.EqualValues(t, 2200-k*110, r.EventsAcked)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	lines := map[string]bool{}
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		id := sc.Text()
		assert.True(t, strings.HasPrefix(id, "load-"+r.RunID+"-"), id)
		assert.False(t, lines[id], "session %s listed twice", id)
		lines[id] = true
	}
	assert.EqualValues(t, r.EventsAcked/11, n, "one line per acknowledged copy")

	_, acked := sink.snapshot()
	assert.Len(t, acked, n)
	for id, records := range acked {
		assert.True(t, lines[id], "the server acknowledged %s, the file must list it", id)
		assert.Equal(t, 11, records, id)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Len(t, sink.emails, 3, "the developers stay in X-User-Email")
	assert.True(t, sink.emails["dev-1@load.example"])
}

func TestLoadValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--rate", "-1"},
		{"--rate", "10000001"},
		{"--rate", "NaN"},
		{"--max-in-flight", "0"},
		{"--max-in-flight", "10001"},
	} {
		cmd := newLoadCommand()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"--license", "x", "--endpoint", "http://127.0.0.1:1"}, args...))
		assert.Error(t, cmd.Execute(), "%v", args)
	}
}

func TestLoadTextOutput(t *testing.T) {
	_, url := httpSink(t, always(http.StatusOK))
	cmd := newLoadCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--license", "x", "--endpoint", url, "--max-events", "110", "--rate", "1000"})
	require.NoError(t, cmd.Execute())
	assert.Contains(t, out.String(), "open loop at 1000 events/s")
	assert.Contains(t, out.String(), "110 acknowledged, 0 failed (0 refused retryable, 0 permanent, 0 transport)")
}
