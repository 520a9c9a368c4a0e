package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/pgtest"
)

// Scale-out: several govcol gateways behind a real load balancer (nginx from Debian's packages), sharing one
// Postgres, one license-signing key, one audit signing key and one query-hash key, each with its own
// service.instance.id (its chains and crash sealing) and its own persistent queue: the shape of config/gateway.yaml
// run N times behind a balancer (docs/SCALING.md).

// fleet is the gateways, the balancer in front of them, and what they share.
type fleet struct {
	gateways []*Collector
	lb       *balancer
	// front is the balancer as a Collector for Load (its HTTPEndpoint) and for the shared database (PostgresDSN,
	// AuditPubKey: Stored, MissingAcked, VerifyReport).
	front *Collector
	lic   string
}

// startFleet starts n gateways on one database and nginx in front of them.
func startFleet(t testing.TB, n int) *fleet {
	t.Helper()
	bin := GovcolBinary(t)
	shared := t.TempDir()
	keys := NewKeys(t, shared)
	auditKey, auditPub := NewAuditKey(t, shared)
	dsn := pgtest.NewDatabase(t)
	f := &fleet{lic: keys.License(t, "org-fault", "tenant-fault", "client-fault", "")}
	var upstreams []string
	for i := 1; i <= n; i++ {
		c := startGateway(t, bin, fmt.Sprintf("gw-%d", i), keys, auditKey, auditPub, dsn)
		f.gateways = append(f.gateways, c)
		upstreams = append(upstreams, strings.TrimPrefix(c.HTTPEndpoint, "http://"))
	}
	f.lb = startNginx(t, upstreams)
	f.front = &Collector{HTTPEndpoint: f.lb.URL, PostgresDSN: dsn, AuditPubKey: auditPub, Keys: keys}
	return f
}

// startGateway runs one gateway of a fleet: OTLP/HTTP with licenseauth → governance (signed chains; the chain
// registry and sealing through GOVCOL_PG_DSN under a stable instance id) → postgresaudit with the file_storage
// persistent queue and its fallback file, and s3decision to a local directory.
func startGateway(t testing.TB, bin, instance string, keys Keys, auditKey, auditPub, dsn string) *Collector {
	t.Helper()
	dir := t.TempDir()
	grpcPort, httpPort, metricsPort, healthPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	ext := fmt.Sprintf("  file_storage:\n    directory: %q\n", filepath.Join(dir, "queue"))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "queue"), 0o700))
	telemetry := strings.Replace(TelemetryConfig(metricsPort), "  telemetry:\n",
		"  telemetry:\n    resource:\n      service.instance.id: "+instance+"\n", 1)
	cfg := AuthedOTLPConfig(keys.PEMPath, healthPort, grpcPort, httpPort, ext) + fmt.Sprintf(`
processors:
  governance:
    query_hash_key: e2e-query-hash-key-0123456789
    integrity: {signing_key_file: %q}
exporters:
  postgresaudit:
    dsn: %q
    sending_queue:
      storage: file_storage
      batch: {flush_timeout: 100ms}
    fallback: {path: %q}
  s3decision:
    local_dir: %q
service:
  extensions: [licenseauth, health_check, file_storage]
%s  pipelines:
    logs: {receivers: [otlp], processors: [governance], exporters: [postgresaudit, s3decision]}
`, auditKey, dsn, filepath.Join(dir, "pg-fallback.jsonl"), filepath.Join(dir, "decisions"), telemetry)
	cfgPath := filepath.Join(dir, "govcol.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	c := &Collector{
		GRPCEndpoint: fmt.Sprintf("127.0.0.1:%d", grpcPort),
		HTTPEndpoint: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		MetricsURL:   fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		PostgresDSN:  dsn,
		AuditPubKey:  auditPub,
		Keys:         keys,
		Dir:          dir,
		stderr:       &lockedBuffer{},
	}
	launch(t, c, bin, []string{"--config", cfgPath}, []string{"GOVCOL_PG_DSN=" + dsn}, healthPort)
	return c
}

// balancer is a running nginx.
type balancer struct {
	URL       string
	accessLog string
}

// nginxBinary finds nginx (Debian installs it in /usr/sbin, which may not be on a test's PATH); a missing balancer
// fails the test with the install command (.ci/run installs it).
func nginxBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx not found: apt-get install nginx (the scale-out test balances real gateways with it)")
	return ""
}

// startNginx runs nginx in the foreground on a free loopback port, balancing OTLP/HTTP over upstreams (least
// connections; a gateway that refuses connections is skipped for 2 s and the request goes to the next one; a POST
// already sent is never re-sent by the balancer: the client retries it, and the stores dedupe it). Stopped at
// cleanup. The access log names the upstream(s) of every request.
func startNginx(t testing.TB, upstreams []string) *balancer {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	port := FreePort(t)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server %s max_fails=1 fail_timeout=2s;\n", u)
	}
	user := ""
	if os.Geteuid() == 0 { // workers run as nobody otherwise, who cannot enter the test's 0700 directories
		user = "user root root;\n"
	}
	b := &balancer{URL: fmt.Sprintf("http://127.0.0.1:%d", port), accessLog: filepath.Join(dir, "access.log")}
	conf := fmt.Sprintf(`%sworker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
  log_format upstreams '$status|$upstream_addr|$upstream_status';
  access_log %[3]s upstreams;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  client_max_body_size 16m;
  client_body_buffer_size 4m;
  upstream gateways {
    least_conn;
%[4]s    keepalive 32;
  }
  server {
    listen 127.0.0.1:%[5]d;
    location / {
      proxy_pass http://gateways;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
    }
  }
}
`, user, dir, b.accessLog, servers.String(), port)
	confPath := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o600))
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", confPath).CombinedOutput()
	require.NoError(t, err, "nginx -t: %s", out)
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-g", "daemon off;")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: the master ends its workers
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			e, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s%s", logs.String(), e)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v\n%s", err, logs.String())
		default:
		}
		if conn, err := net.Dial("tcp", strings.TrimPrefix(b.URL, "http://")); err == nil {
			conn.Close()
			return b
		}
		require.False(t, time.Now().After(deadline), "nginx not listening after 15s:\n%s", logs.String())
	}
}

// perUpstream counts the balancer's requests by the upstream that answered them (the last one tried), and the
// answers by status.
func (b *balancer) perUpstream(t testing.TB) (answered map[string]int, status map[string]int) {
	t.Helper()
	f, err := os.Open(b.accessLog)
	require.NoError(t, err)
	defer f.Close()
	answered, status = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "|") // status|addr[, addr...]|status[, status...]
		if len(fields) != 3 {
			continue
		}
		status[fields[0]]++
		addrs := strings.Split(fields[1], ",")
		answered[strings.TrimSpace(addrs[len(addrs)-1])]++
	}
	require.NoError(t, sc.Err())
	return answered, status
}

// counts lists m in key order.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// Three gateways behind nginx on one Postgres, loaded through the balancer with retrying clients; one gateway is
// SIGKILLed mid-run and restarted. Every acknowledged event is stored exactly once, every acknowledged session is
// whole, every gateway served requests, and `govctl verify` passes for every chain (the killed run's chain sealed
// by its restart). CI runs the bounded form (12 s of load); `make bench-history` the full one (40 s).
func TestScaleOutGatewaysBehindNginxSIGKILL(t *testing.T) {
	began := time.Now()
	f := startFleet(t, 3)
	startup := time.Since(began)
	d := scaled(12*time.Second, 40*time.Second)
	acked := filepath.Join(t.TempDir(), "acked")
	wait := Load(t, f.front, f.lic, "http", "--rate", "900", "--developers", "5", "--batch", "5", "--retry",
		"--duration", secs(d), "--max-events", "10000000", "--acked-file", acked)
	time.Sleep(d / 3)
	victim := f.gateways[1]
	victim.Kill()
	killedAt := time.Now()
	time.Sleep(2 * time.Second) // the balancer meets the dead gateway (connection refused) and routes around it
	victim.Restart(t)
	restarted := time.Since(killedAt)
	r := wait()

	assert.Zero(t, r.FailedPermanent, r.FirstError)
	assert.Equal(t, r.EventsSent, r.EventsAcked, "with retries every event is acknowledged in the end: %s", r.FirstError)
	loaded := time.Now()
	rows := requireStoredOnce(t, f.front, r.EventsAcked)
	storedIn := time.Since(loaded)
	requireAckedSessionsStored(t, f.front, acked, r.EventsAcked)

	answered, status := f.lb.perUpstream(t)
	for _, gw := range f.gateways {
		assert.Positive(t, answered[strings.TrimPrefix(gw.HTTPEndpoint, "http://")], "every gateway served requests: %s", counts(answered))
	}

	verifyFrom := time.Now()
	rep := verifyEventually(t, f.front, 60*time.Second)
	verifiedIn := time.Since(verifyFrom)
	sealed := 0
	for _, ch := range rep.Chains {
		assert.True(t, ch.OK(), "%s: %+v", ch.ChainID, ch.Failures)
		assert.True(t, ch.Registered, ch.ChainID)
		if ch.Sealed {
			sealed++
		}
	}
	require.True(t, rep.OK(), "govctl verify passes for every chain")
	// One chain per gateway run that chained a record: the three gateways, and the restarted run when the balancer
	// sent it anything after the restart (its own telemetry restarted at zero).
	runs := 3
	if victim.Metric(t, "otelcol_receiver_accepted_log_records") > 0 {
		runs++
	}
	assert.Equal(t, runs, rep.Registered, "one chain per gateway run")
	assert.Equal(t, 1, sealed, "the killed gateway's chain is sealed by its restart")
	t.Logf("SCALEOUT 3 gateways behind nginx, one SIGKILLed %.0fs into a %.0fs run and back in %.1fs: %s; stored %d "+
		"(exactly once), every acknowledged session whole; requests per gateway %s; balancer answers %s; govctl verify: "+
		"%d chains OK (%d registered, %d sealed), %d records; phases: fleet up %.1fs, stored check %.1fs, verify %.1fs",
		(d / 3).Seconds(), d.Seconds(), restarted.Seconds(), r, rows, counts(answered), counts(status),
		len(rep.Chains), rep.Registered, sealed, rep.Records(), startup.Seconds(), storedIn.Seconds(), verifiedIn.Seconds())
}
