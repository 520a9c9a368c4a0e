package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/s3test"
)

// FaultOptions shape the collector of a fault run: OTLP (licenseauth) → [memory_limiter] → governance (signed
// chains) → postgresaudit + s3decision.
type FaultOptions struct {
	PostgresDSN     string         // default: a fresh database in the package's cluster
	S3              *s3test.Server // decisions go to this server's bucket "decisions"; nil: a local directory
	PersistentQueue bool           // the postgresaudit sending queue in file_storage (survives SIGKILL)
	MemoryLimitMiB  int            // > 0: memory_limiter with this hard limit (spike limit a quarter of it), and the Go runtime's GOMEMLIMIT at the same value
	QueueSize       int            // postgresaudit sending_queue.queue_size in requests (0: the default)
}

// StartFaultCollector writes the fault-run configuration, starts govcol and returns it with a license for tenant
// "tenant-fault".
func StartFaultCollector(t testing.TB, o FaultOptions) (*Collector, string) {
	t.Helper()
	bin := GovcolBinary(t)
	dir := t.TempDir()
	keys := NewKeys(t, dir)
	auditKey, auditPub := NewAuditKey(t, dir)
	if o.PostgresDSN == "" {
		o.PostgresDSN = pgtest.NewDatabase(t)
	}
	grpcPort, httpPort, metricsPort, healthPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t)

	var ext, extNames, limiter, procs, queue, decisions strings.Builder
	extNames.WriteString("licenseauth, health_check")
	procs.WriteString("governance")
	if o.PersistentQueue {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "queue"), 0o700))
		fmt.Fprintf(&ext, "  file_storage:\n    directory: %q\n", filepath.Join(dir, "queue"))
		extNames.WriteString(", file_storage")
		queue.WriteString("      storage: file_storage\n")
	}
	if o.QueueSize > 0 {
		fmt.Fprintf(&queue, "      queue_size: %d\n", o.QueueSize)
	}
	if o.MemoryLimitMiB > 0 {
		fmt.Fprintf(&limiter, "  memory_limiter:\n    check_interval: 100ms\n    limit_mib: %d\n    spike_limit_mib: %d\n", o.MemoryLimitMiB, o.MemoryLimitMiB/4)
		procs.Reset()
		procs.WriteString("memory_limiter, governance")
	}
	if o.S3 != nil {
		o.S3.Env(t)
		fmt.Fprintf(&decisions, "    bucket: decisions\n    endpoint: %s\n    s3_force_path_style: true\n    region: %s\n    put_timeout: 1s\n", o.S3.Endpoint, s3test.Region)
	} else {
		fmt.Fprintf(&decisions, "    local_dir: %q\n", filepath.Join(dir, "decisions"))
	}
	decisions.WriteString("    selection: \"true\"\n") // every record is a decision here: the suite counts each one's outcome
	cfg := AuthedOTLPConfig(keys.PEMPath, healthPort, grpcPort, httpPort, ext.String()) + fmt.Sprintf(`
processors:
%s  governance:
    query_hash_key: e2e-query-hash-key-0123456789
    integrity: {signing_key_file: %q}
exporters:
  postgresaudit:
    dsn: %q
    sending_queue:
%s      batch: {flush_timeout: 100ms}
    fallback: {path: %q}
  s3decision:
%sservice:
  extensions: [%s]
%s  pipelines:
    logs: {receivers: [otlp], processors: [%s], exporters: [postgresaudit, s3decision]}
`, limiter.String(), auditKey, o.PostgresDSN, queue.String(),
		filepath.Join(dir, "pg-fallback.jsonl"), decisions.String(), extNames.String(), TelemetryConfig(metricsPort), procs.String())
	cfgPath := filepath.Join(dir, "govcol.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	c := &Collector{
		GRPCEndpoint: fmt.Sprintf("127.0.0.1:%d", grpcPort),
		HTTPEndpoint: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		MetricsURL:   fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		PostgresDSN:  o.PostgresDSN,
		AuditPubKey:  auditPub,
		Keys:         keys,
		Dir:          dir,
		stderr:       &lockedBuffer{},
	}
	var env []string
	if o.MemoryLimitMiB > 0 {
		// memory_limiter refuses data above its soft limit; GOMEMLIMIT makes the garbage collector keep the heap
		// (and so the RSS) near the same figure instead of letting it double between collections.
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%dMiB", o.MemoryLimitMiB))
	}
	launch(t, c, bin, []string{"--config", cfgPath}, env, healthPort)
	return c, keys.License(t, "org-fault", "tenant-fault", "client-fault", "")
}

// LoadResult is what `govctl load --json` reports.
type LoadResult struct {
	RunID           string  `json:"run_id"` // the copies' session ids are load-<RunID>-<n>
	EventsSent      int64   `json:"events_sent"`
	EventsAcked     int64   `json:"events_acked"`
	EventsFailed    int64   `json:"events_failed"`
	RefusedRetry    int64   `json:"events_refused_retryable"`
	FailedPermanent int64   `json:"events_failed_permanent"`
	FailedTransport int64   `json:"events_failed_transport"`
	Retries         int64   `json:"retries"`
	LateStarts      int64   `json:"late_starts"`
	Seconds         float64 `json:"seconds"`
	EventsPerSec    float64 `json:"events_per_second"`
	P50             float64 `json:"ack_latency_p50_ms"`
	P90             float64 `json:"ack_latency_p90_ms"`
	P99             float64 `json:"ack_latency_p99_ms"`
	FirstError      string  `json:"first_error"`
}

func (r LoadResult) String() string {
	return fmt.Sprintf("%d sent, %d acked, %d refused (retryable), %d failed (transport %d, permanent %d), %d retries, "+
		"%.0f events/s, ack latency p50 %.1f ms p90 %.1f ms p99 %.1f ms", r.EventsSent, r.EventsAcked, r.RefusedRetry,
		r.FailedTransport+r.FailedPermanent, r.FailedTransport, r.FailedPermanent, r.Retries, r.EventsPerSec, r.P50, r.P90, r.P99)
}

// Load starts `govctl load` against the collector over protocol (http or grpc) with extra flags and returns a
// function that waits for its result. The run is bounded by the flags' --duration / --max-events. Requests in
// flight at --duration get loadDrain to be answered (unless the flags set --drain): the suites assert what was
// acknowledged and stored, not how fast, and a shared CI machine can be slow at the end of a fault.
func Load(t testing.TB, c *Collector, lic, protocol string, flags ...string) func() LoadResult {
	t.Helper()
	endpoint := c.HTTPEndpoint
	if protocol == "grpc" {
		endpoint = c.GRPCEndpoint
	}
	govctl := filepath.Join(filepath.Dir(GovcolBinary(t)), "govctl")
	args := []string{"load", "--protocol", protocol, "--endpoint", endpoint, "--license", lic, "--json"}
	if !slices.ContainsFunc(flags, func(f string) bool { return f == "--drain" || strings.HasPrefix(f, "--drain=") }) {
		args = append(args, "--drain", loadDrain.String())
	}
	args = append(args, flags...)
	cmd := exec.Command(govctl, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Start())
	return func() LoadResult {
		t.Helper()
		require.NoError(t, cmd.Wait(), "govctl load: %s %s", out.String(), errOut.String())
		var r LoadResult
		require.NoError(t, json.Unmarshal([]byte(out.String()), &r), "%s", out.String())
		return r
	}
}

// loadDrain is Load's --drain.
const loadDrain = 30 * time.Second

// Stored counts the rows of tenant in audit_logs and the distinct record ids among them.
func Stored(t testing.TB, dsn, tenant string) (rows, distinct int64) {
	t.Helper()
	db, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer db.Close(context.Background())
	require.NoError(t, db.QueryRow(context.Background(),
		"SELECT count(*), count(DISTINCT id) FROM audit_logs WHERE tenant_id = $1", tenant).Scan(&rows, &distinct))
	return rows, distinct
}

// MissingAcked returns the session ids listed in ackedFile (`govctl load --acked-file`: one line per acknowledged
// session copy of 11 events) that do not have all their 11 events stored.
func MissingAcked(t testing.TB, dsn, ackedFile string) (acked int, missing []string) {
	t.Helper()
	f, err := os.Open(ackedFile)
	require.NoError(t, err)
	defer f.Close()
	var sessions []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			sessions = append(sessions, s)
		}
	}
	require.NoError(t, sc.Err())
	db, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer db.Close(context.Background())
	rows, err := db.Query(context.Background(), `SELECT s FROM unnest($1::text[]) AS s
		WHERE (SELECT count(DISTINCT id) FROM audit_logs WHERE session_id = s) < 11`, sessions)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		missing = append(missing, s)
	}
	require.NoError(t, rows.Err())
	return len(sessions), missing
}

// VerifyReport runs `govctl verify --json` on the collector's database and returns its report (whatever the
// outcome).
func (c *Collector) VerifyReport(t testing.TB) integrity.Report {
	t.Helper()
	govctl := filepath.Join(filepath.Dir(GovcolBinary(t)), "govctl")
	out, err := exec.Command(govctl, "verify", "--json", "--dsn", c.PostgresDSN, "--key", c.AuditPubKey).Output()
	if err != nil {
		_, isExit := err.(*exec.ExitError)
		require.True(t, isExit, "govctl verify: %v", err)
	}
	var rep integrity.Report
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	return rep
}
