// Package e2e is the end-to-end harness: it builds and starts the real govcol binary, points the real Claude Code
// CLI at it (talking to a local stub of the Anthropic Messages API), and records what the collector forwards.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/freeport"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgtest"
)

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found above the working directory")
		dir = parent
	}
}

var buildOnce sync.Once

// GovcolBinary builds bin/govcol and bin/govctl once per test process (go build is incremental, so this is cheap
// when `make build` already ran) and returns the collector's path.
func GovcolBinary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	bin := filepath.Join(root, "bin", "govcol")
	var buildErr error
	var out []byte
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", filepath.Dir(bin)+string(filepath.Separator), "./cmd/govcol", "./cmd/govctl")
		cmd.Dir = root
		out, buildErr = cmd.CombinedOutput()
	})
	require.NoError(t, buildErr, "go build ./cmd/govcol ./cmd/govctl: %s", out)
	_, err := os.Stat(bin)
	require.NoError(t, err)
	return bin
}

// ClaudeBinary locates the real Claude Code CLI: $GOVCOL_CLAUDE_BIN, else <repo>/node_modules/.bin/claude. A missing
// CLI fails the test: the end-to-end proof is never skipped.
func ClaudeBinary(t testing.TB) string {
	t.Helper()
	path := os.Getenv("GOVCOL_CLAUDE_BIN")
	if path == "" {
		path = filepath.Join(RepoRoot(t), "node_modules", ".bin", "claude")
	}
	_, err := os.Stat(path)
	require.NoError(t, err, "the Claude Code CLI is missing: run `npm install` in the repository root "+
		"(package.json pins @anthropic-ai/claude-code@2.1.330) or set GOVCOL_CLAUDE_BIN")
	return path
}

// FreePort returns a free loopback port outside the kernel's ephemeral range (internal/freeport says why).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Port()
	require.NoError(t, err)
	return port
}

// Keys is a license-signing key pair whose public half is on disk for the collector.
type Keys struct {
	Pub     ed25519.PublicKey
	Priv    ed25519.PrivateKey
	PEMPath string
}

// NewKeys mints a key pair under dir.
func NewKeys(t testing.TB, dir string) Keys {
	t.Helper()
	pub, priv, err := license.GenerateKey()
	require.NoError(t, err)
	data, err := license.MarshalPublicKeyPEM(pub)
	require.NoError(t, err)
	path := filepath.Join(dir, "license-"+license.KeyID(pub)[:8]+".pub.pem")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return Keys{Pub: pub, Priv: priv, PEMPath: path}
}

// NewAuditKey writes a checkpoint signing key pair into dir and returns the private and public PEM paths.
func NewAuditKey(t testing.TB, dir string) (string, string) {
	t.Helper()
	privPath, pubPath := filepath.Join(dir, "audit-signing.key"), filepath.Join(dir, "audit-signing.pub.pem")
	_, err := license.WriteKeyPair(privPath, pubPath)
	require.NoError(t, err)
	return privPath, pubPath
}

// License issues a license valid for an hour.
func (k Keys) License(t testing.TB, org, tenant, clientID, email string) string {
	t.Helper()
	tok, err := license.Issue(k.Priv, license.NewClaims(org, tenant, clientID, "standard", email, time.Now(), time.Hour))
	require.NoError(t, err)
	return tok
}

// ReadLicense issues a read license for the whole tenant (an auditor's), valid for an hour: ingest licenses get 403
// from the audit API.
func (k Keys) ReadLicense(t testing.TB, org, tenant, clientID string) string {
	t.Helper()
	c := license.NewClaims(org, tenant, clientID, "standard", "", time.Now(), time.Hour)
	c.Scope, c.ReadTenant = license.ScopeRead, true
	tok, err := license.Issue(k.Priv, c)
	require.NoError(t, err)
	return tok
}

// Sink is an OTLP/HTTP server recording what the collector's otlp_http exporter forwards.
type Sink struct {
	URL string

	mu      sync.Mutex
	logs    []plog.Logs
	metrics []pmetric.Metrics
	traces  []ptrace.Traces
}

// NewSink starts a sink on loopback.
func NewSink(t testing.TB) *Sink {
	t.Helper()
	s := &Sink{}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/logs", func(w http.ResponseWriter, r *http.Request) {
		req := plogotlp.NewExportRequest()
		if !s.decode(w, r, req.UnmarshalProto) {
			return
		}
		s.mu.Lock()
		s.logs = append(s.logs, req.Logs())
		s.mu.Unlock()
	})
	mux.HandleFunc("/v1/metrics", func(w http.ResponseWriter, r *http.Request) {
		req := pmetricotlp.NewExportRequest()
		if !s.decode(w, r, req.UnmarshalProto) {
			return
		}
		s.mu.Lock()
		s.metrics = append(s.metrics, req.Metrics())
		s.mu.Unlock()
	})
	mux.HandleFunc("/v1/traces", func(w http.ResponseWriter, r *http.Request) {
		req := ptraceotlp.NewExportRequest()
		if !s.decode(w, r, req.UnmarshalProto) {
			return
		}
		s.mu.Lock()
		s.traces = append(s.traces, req.Traces())
		s.mu.Unlock()
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.URL = "http://" + l.Addr().String()
	return s
}

func (s *Sink) decode(w http.ResponseWriter, r *http.Request, unmarshal func([]byte) error) bool {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = unmarshal(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	return true
}

// LogEventNames returns the `event.name` (else body) of every log record received.
func (s *Sink) LogEventNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, ld := range s.logs {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if v, ok := lr.Attributes().Get("event.name"); ok {
						names = append(names, v.AsString())
					} else {
						names = append(names, lr.Body().AsString())
					}
				}
			}
		}
	}
	return names
}

// MetricNames returns the names of every metric received.
func (s *Sink) MetricNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, md := range s.metrics {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					names = append(names, ms.At(k).Name())
				}
			}
		}
	}
	return names
}

// SpanNames returns the names of every span received.
func (s *Sink) SpanNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, td := range s.traces {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			sss := td.ResourceSpans().At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					names = append(names, spans.At(k).Name())
				}
			}
		}
	}
	return names
}

// Records returns the canonical audit records of every log record received, read back the way the govcol
// exporters read them.
func (s *Sink) Records(t testing.TB) []audit.Record {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Record
	for _, ld := range s.logs {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if integrity.IsCheckpoint(lr) {
						continue
					}
					r, err := audit.FromLogRecord(rl.Resource(), lr)
					require.NoError(t, err)
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// SpanAttributes returns the attributes of every span received with the given name.
func (s *Sink) SpanAttributes(name string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, td := range s.traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					if span.Name() == name {
						out = append(out, span.Attributes().AsRaw())
					}
				}
			}
		}
	}
	return out
}

// MetricPoints returns the attributes of every data point of the named sum metric, with its resource attributes
// under "resource".
func (s *Sink) MetricPoints(name string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, md := range s.metrics {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() != name || m.Type() != pmetric.MetricTypeSum {
						continue
					}
					for _, dp := range m.Sum().DataPoints().All() {
						a := dp.Attributes().AsRaw()
						a["resource"] = rm.Resource().Attributes().AsRaw()
						out = append(out, a)
					}
				}
			}
		}
	}
	return out
}

// Total is the number of log records, metric data points' metrics and spans received.
func (s *Sink) Total() int {
	return len(s.LogEventNames()) + len(s.MetricNames()) + len(s.SpanNames())
}

// Collector is a running govcol process.
type Collector struct {
	GRPCEndpoint       string // host:port
	HTTPEndpoint       string // http://host:port
	MetricsURL         string // internal telemetry, Prometheus text format
	ExporterMetricsURL string // the Prometheus exporter (StartLocalCollector only)
	AuditAPIURL        string // the audit API and Log Explorer (StartLocalCollector only)
	PostgresDSN        string // the database holding this collector's audit_logs
	AuditPubKey        string // PEM public key of the checkpoint signing key (govctl verify --key)
	Keys               Keys
	Dir                string

	stderr *lockedBuffer
	proc   *process
}

// process is the running govcol and how to start it again.
type process struct {
	bin        string
	args, env  []string
	healthPort int
	cmd        *exec.Cmd
	exited     chan error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CollectorConfig is the configuration the harness writes: OTLP gRPC and HTTP with licenseauth and
// include_metadata, every signal through the governance processor and forwarded by otlp_http to sinkURL, governed
// logs also stored by the postgresaudit exporter in pgDSN and as decision files under decisionsDir (s3decision),
// internal telemetry on metricsPort.
func CollectorConfig(pemPath string, grpcPort, httpPort, metricsPort, healthPort int, sinkURL, pgDSN, fallbackPath, decisionsDir, auditKey string) string {
	return AuthedOTLPConfig(pemPath, healthPort, grpcPort, httpPort, "") + fmt.Sprintf(`
processors:
  governance:
    query_hash_key: e2e-query-hash-key-0123456789
    integrity: {signing_key_file: %q}
exporters:
  otlp_http:
    endpoint: %s
    compression: none
    retry_on_failure: {enabled: false}
    sending_queue: {enabled: false}
  postgresaudit:
    dsn: %q
    sending_queue:
      batch: {flush_timeout: 100ms}
    fallback: {path: %q}
  s3decision:
    local_dir: %q
    selection: "true" # every record, so the suites can find each record's object
service:
  extensions: [licenseauth, health_check]
%s  pipelines:
    logs: {receivers: [otlp], processors: [governance], exporters: [otlp_http, postgresaudit, s3decision]}
    metrics: {receivers: [otlp], processors: [governance], exporters: [otlp_http]}
    traces: {receivers: [otlp], processors: [governance], exporters: [otlp_http]}
`, auditKey, sinkURL, pgDSN, fallbackPath, decisionsDir, TelemetryConfig(metricsPort))
}

// TelemetryConfig is the service.telemetry section of the harness's configurations: info logs, internal metrics in
// Prometheus format on metricsPort.
func TelemetryConfig(metricsPort int) string {
	return fmt.Sprintf(`  telemetry:
    logs: {level: info}
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {host: 127.0.0.1, port: %d}
`, metricsPort)
}

// AuthedOTLPConfig is the head of the harness's configurations: licenseauth with the key at pemPath, health_check,
// extraExtensions (YAML, indented two spaces), and the OTLP receiver (gRPC and HTTP on loopback) authenticated by
// licenseauth with include_metadata.
func AuthedOTLPConfig(pemPath string, healthPort, grpcPort, httpPort int, extraExtensions string) string {
	return fmt.Sprintf(`
extensions:
  licenseauth:
    public_key_files: [%q]
  health_check:
    endpoint: 127.0.0.1:%d
%sreceivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
        include_metadata: true
        auth: {authenticator: licenseauth}
      http:
        endpoint: 127.0.0.1:%d
        include_metadata: true
        auth: {authenticator: licenseauth}
`, pemPath, healthPort, extraExtensions, grpcPort, httpPort)
}

// StartCollector writes a config forwarding to sink, starts bin/govcol and waits until it is healthy. The process is
// stopped with SIGTERM at cleanup; its log is printed when the test failed.
func StartCollector(t testing.TB, sink *Sink) *Collector {
	t.Helper()
	bin := GovcolBinary(t)
	dir := t.TempDir()
	keys := NewKeys(t, dir)
	grpcPort, httpPort, metricsPort, healthPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	cfgPath := filepath.Join(dir, "govcol.yaml")
	pgDSN := pgtest.NewDatabase(t)
	auditKey, auditPub := NewAuditKey(t, dir)
	cfg := CollectorConfig(keys.PEMPath, grpcPort, httpPort, metricsPort, healthPort, sink.URL, pgDSN,
		filepath.Join(dir, "pg-fallback.jsonl"), filepath.Join(dir, "decisions"), auditKey)
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))

	c := &Collector{
		GRPCEndpoint: fmt.Sprintf("127.0.0.1:%d", grpcPort),
		HTTPEndpoint: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		MetricsURL:   fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		PostgresDSN:  pgDSN,
		AuditPubKey:  auditPub,
		Keys:         keys,
		Dir:          dir,
		stderr:       &lockedBuffer{},
	}
	launch(t, c, bin, []string{"--config", cfgPath}, nil, healthPort)
	return c
}

// launch starts bin with args (and extra env), stops it with SIGTERM at cleanup (printing its log when the test
// failed), and waits until health_check on healthPort answers.
func launch(t testing.TB, c *Collector, bin string, args, env []string, healthPort int) {
	t.Helper()
	c.proc = &process{bin: bin, args: args, env: env, healthPort: healthPort}
	c.start(t)
	t.Cleanup(func() {
		c.stop(syscall.SIGTERM, 15*time.Second)
		if t.Failed() {
			t.Logf("govcol output:\n%s", c.stderr.String())
		}
	})
}

// start runs the process and waits until it is healthy.
func (c *Collector) start(t testing.TB) {
	t.Helper()
	p := c.proc
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.cmd, p.exited = cmd, exited

	healthURL := fmt.Sprintf("http://127.0.0.1:%d/", p.healthPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("govcol exited during start: %v\n%s", err, c.stderr.String())
		default:
		}
		resp, err := http.Get(healthURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("govcol not healthy after 30s:\n%s", c.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop signals the process and waits for it to exit (SIGKILL after grace).
func (c *Collector) stop(sig syscall.Signal, grace time.Duration) {
	p := c.proc
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// Kill ends the collector with SIGKILL: no shutdown, nothing flushed.
func (c *Collector) Kill() { c.stop(syscall.SIGKILL, 15*time.Second) }

// Restart starts the collector again with the same configuration, directory and ports.
func (c *Collector) Restart(t testing.TB) {
	t.Helper()
	c.stop(syscall.SIGTERM, 15*time.Second)
	c.start(t)
}

// PeakRSSMiB is the collector process's peak resident set size so far (VmHWM, Linux).
func (c *Collector) PeakRSSMiB(t testing.TB) float64 {
	t.Helper()
	require.NotNil(t, c.proc.cmd, "the collector is not running")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.proc.cmd.Process.Pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			require.NoError(t, err)
			return kb / 1024
		}
	}
	t.Fatal("VmHWM not found in /proc/<pid>/status")
	return 0
}

// StartLocalCollector runs the shipped quick start configuration, config/local.yaml, on free ports (through its
// GOVCOL_* variables), with its own keys directory and a fresh Postgres database. c.ExporterMetricsURL is the
// Prometheus exporter (the :8889 of the quick start), c.MetricsURL the collector's own telemetry (:8888).
func StartLocalCollector(t testing.TB) *Collector {
	t.Helper()
	return StartLocalCollectorWith(t, pgtest.NewDatabase(t))
}

// QuickStartMemoryLimit is the GOMEMLIMIT scripts/run-local.sh (`make run`) starts the quick start with when the
// environment sets none; StartLocalCollectorWith starts the collector with it likewise, so that the tests and
// BenchmarkEndToEnd measure the quick start as it runs.
func QuickStartMemoryLimit(t testing.TB) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(RepoRoot(t), "scripts", "run-local.sh"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^export GOMEMLIMIT="\$\{GOMEMLIMIT:-([0-9]+MiB)\}"$`).FindSubmatch(script)
	require.NotNil(t, m, `scripts/run-local.sh: export GOMEMLIMIT="${GOMEMLIMIT:-<n>MiB}"`)
	return string(m[1])
}

// StartLocalCollectorWith is StartLocalCollector storing into the database at dsn, with overlays: further
// configuration files (YAML text) the collector merges over config/local.yaml, in order.
func StartLocalCollectorWith(t testing.TB, dsn string, overlays ...string) *Collector {
	t.Helper()
	bin := GovcolBinary(t)
	dir := t.TempDir()
	keys := NewKeys(t, dir)
	pem, err := os.ReadFile(keys.PEMPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "license-signing.pub.pem"), pem, 0o600))
	_, auditPub := NewAuditKey(t, dir)
	grpcPort, httpPort, telPort, promPort, healthPort, apiPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	c := &Collector{
		GRPCEndpoint:       fmt.Sprintf("127.0.0.1:%d", grpcPort),
		HTTPEndpoint:       fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		MetricsURL:         fmt.Sprintf("http://127.0.0.1:%d/metrics", telPort),
		ExporterMetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", promPort),
		AuditAPIURL:        fmt.Sprintf("http://127.0.0.1:%d", apiPort),
		PostgresDSN:        dsn,
		AuditPubKey:        auditPub,
		Keys:               keys,
		Dir:                dir,
		stderr:             &lockedBuffer{},
	}
	env := []string{
		"GOVCOL_DIR=" + dir, "GOVCOL_PG_DSN=" + c.PostgresDSN, "GOVCOL_QUERY_HASH_KEY=e2e-query-hash-key-0123456789",
		"GOVCOL_OTLP_GRPC_ENDPOINT=" + c.GRPCEndpoint, fmt.Sprintf("GOVCOL_OTLP_HTTP_ENDPOINT=127.0.0.1:%d", httpPort),
		fmt.Sprintf("GOVCOL_TELEMETRY_PORT=%d", telPort), fmt.Sprintf("GOVCOL_METRICS_ENDPOINT=127.0.0.1:%d", promPort),
		fmt.Sprintf("GOVCOL_HEALTH_ENDPOINT=127.0.0.1:%d", healthPort), "GOVCOL_SPAN_METRICS_FLUSH=1s",
		fmt.Sprintf("GOVCOL_AUDIT_API_ENDPOINT=127.0.0.1:%d", apiPort),
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		env = append(env, "GOMEMLIMIT="+QuickStartMemoryLimit(t))
	}
	args := []string{"--config", filepath.Join(RepoRoot(t), "config", "local.yaml")}
	for i, o := range overlays {
		path := filepath.Join(dir, fmt.Sprintf("overlay-%d.yaml", i))
		require.NoError(t, os.WriteFile(path, []byte(o), 0o600))
		args = append(args, "--config", path)
	}
	launch(t, c, bin, args, env, healthPort)
	return c
}

// VerifyTrail runs the real `govctl verify` on the collector's database until it passes (the newest records are
// signed within the checkpoint interval) and returns its report; it fails the test when a run started 15 s after
// the first still fails (a run over a large trail may itself take longer: it is never cut short).
func (c *Collector) VerifyTrail(t testing.TB) string {
	t.Helper()
	govctl := filepath.Join(filepath.Dir(GovcolBinary(t)), "govctl")
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command(govctl, "verify", "--dsn", c.PostgresDSN, "--key", c.AuditPubKey).CombinedOutput()
		if err == nil {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("govctl verify: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Output returns what the collector has logged so far.
func (c *Collector) Output() string { return c.stderr.String() }

// Metric sums the samples of an internal-telemetry metric whose labels contain every given label pair
// (`reason="missing"` style); 0 when absent.
func (c *Collector) Metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(c.MetricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metricName, _, _ := strings.Cut(series, "{")
		if metricName != name && metricName != name+"_total" {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		require.NoError(t, err)
		total += v
	}
	require.NoError(t, sc.Err())
	return total
}

// ClaudeRun is one `claude -p` run against the collector.
type ClaudeRun struct {
	Protocol string // http/json, http/protobuf or grpc
	Headers  string // OTEL_EXPORTER_OTLP_HEADERS
	Prompt   string
	// ResourceAttributes is passed as OTEL_RESOURCE_ATTRIBUTES (a payload claim govcol must not trust).
	ResourceAttributes string
	// DenyTools leaves Bash unapproved: the CLI rejects the tool call (a tool_decision "reject").
	DenyTools bool
}

// RunClaude runs the real Claude Code CLI once, non-interactively, with telemetry pointed at the collector and the
// model at the stub, and returns its combined output. Bash is allowed by configuration, so the tool runs.
func RunClaude(t testing.TB, c *Collector, stub *AnthropicStub, run ClaudeRun) string {
	t.Helper()
	bin := ClaudeBinary(t)
	home := t.TempDir()
	work := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(work, "README.txt"), []byte("hello\n"), 0o600))
	endpoint := c.HTTPEndpoint
	if run.Protocol == "grpc" {
		endpoint = "http://" + c.GRPCEndpoint
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	args := []string{"-p", run.Prompt, "--allowedTools", "Bash", "--output-format", "text"}
	if run.DenyTools {
		args = []string{"-p", run.Prompt, "--output-format", "text"}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = work
	cmd.Env = []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"TERM=xterm",
		"ANTHROPIC_API_KEY=sk-ant-e2e-not-a-real-key",
		"ANTHROPIC_BASE_URL=" + stub.URL,
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_ERROR_REPORTING=1",
		"CLAUDE_CODE_ENABLE_TELEMETRY=1",
		"CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1",
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_LOGS_EXPORTER=otlp",
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=" + run.Protocol,
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
		"OTEL_EXPORTER_OTLP_HEADERS=" + run.Headers,
		"OTEL_LOG_USER_PROMPTS=1",
		"OTEL_LOG_TOOL_DETAILS=1",
		"OTEL_METRIC_EXPORT_INTERVAL=1000",
		"OTEL_LOGS_EXPORT_INTERVAL=500",
		"OTEL_TRACES_EXPORT_INTERVAL=500",
	}
	if run.ResourceAttributes != "" {
		cmd.Env = append(cmd.Env, "OTEL_RESOURCE_ATTRIBUTES="+run.ResourceAttributes)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "claude failed (stub saw %v):\n%s", stub.Requests(), out)
	return string(out)
}
