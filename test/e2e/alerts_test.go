package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgtest"
)

// alertRules is the part of dashboards/alerts.yml the tests read.
type alertRules struct {
	Groups []struct {
		Name     string `mapstructure:"name"`
		Interval string `mapstructure:"interval"`
		Rules    []struct {
			Alert       string            `mapstructure:"alert"`
			Record      string            `mapstructure:"record"`
			Expr        string            `mapstructure:"expr"`
			For         string            `mapstructure:"for"`
			Labels      map[string]string `mapstructure:"labels"`
			Annotations map[string]string `mapstructure:"annotations"`
		} `mapstructure:"rules"`
	} `mapstructure:"groups"`
}

func loadAlertRules(t *testing.T) (alertRules, string) {
	t.Helper()
	path := filepath.Join(RepoRoot(t), "dashboards", "alerts.yml")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	conf, err := confmaptest.LoadConf(path)
	require.NoError(t, err)
	var r alertRules
	require.NoError(t, conf.Unmarshal(&r))
	require.NotEmpty(t, r.Groups)
	return r, string(b)
}

// Every alert has a severity, a team, a summary, a description and a runbook_url naming a section of
// docs/RUNBOOK.md that exists; every section of the runbook is an alert.
func TestAlertRulesRunbook(t *testing.T) {
	rules, _ := loadAlertRules(t)
	runbook, err := os.ReadFile(filepath.Join(RepoRoot(t), "docs", "RUNBOOK.md"))
	require.NoError(t, err)
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (Govcol\w+)\s*$`).FindAllStringSubmatch(string(runbook), -1) {
		sections[strings.ToLower(m[1])] = true
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[strings.ToLower(r.Alert)] = true
			assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
			assert.Contains(t, []string{"security", "platform"}, r.Labels["team"], r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			assert.Contains(t, r.Annotations["description"], "First:", "%s: the description says what to do first", r.Alert)
			u, err := url.Parse(r.Annotations["runbook_url"])
			require.NoError(t, err, r.Alert)
			assert.True(t, strings.HasSuffix(u.Path, "/docs/RUNBOOK.md"), "%s: %s", r.Alert, u)
			assert.Equal(t, strings.ToLower(r.Alert), u.Fragment, "%s: the anchor is the alert's section", r.Alert)
			assert.True(t, sections[u.Fragment], "%s: docs/RUNBOOK.md has no section ## %s", r.Alert, r.Alert)
		}
	}
	for s := range sections {
		assert.True(t, alerts[s], "docs/RUNBOOK.md section %s names no alert", s)
	}
	assert.Len(t, alerts, 19)
}

// e2eRules returns dashboards/alerts.yml rewritten for a run of seconds: every `for:` becomes 2s and every group is
// evaluated each second (Prometheus' global evaluation_interval is 1s too); the off-hours window's UTC offset is set
// so that now is 13:00 local time (the clean run happens within working hours whatever the hour of the test). The
// expressions, their range windows and thresholds are the shipped ones.
func e2eRules(t *testing.T, dir string) string {
	t.Helper()
	_, text := loadAlertRules(t)
	text = regexp.MustCompile(`(?m)^(\s+)for: \S+$`).ReplaceAllString(text, "${1}for: 2s")
	text = regexp.MustCompile(`(?m)^(\s+)interval: \S+$`).ReplaceAllString(text, "${1}interval: 1s")
	offset := (13 - time.Now().UTC().Hour() + 24) % 24
	require.Equal(t, 2, strings.Count(text, "(hour() + 7)"), "the off-hours window's offset")
	text = strings.ReplaceAll(text, "(hour() + 7)", fmt.Sprintf("(hour() + %d)", offset))
	path := filepath.Join(dir, "alerts.yml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// startAlertingPrometheus runs the real Prometheus with the rules, scraping the exporter as job "govcol" and the
// collector's own telemetry as job "govcol-internal" (the names of dashboards/prometheus.yml) every second.
func startAlertingPrometheus(t *testing.T, dir, rules, exporterURL, internalURL string) string {
	t.Helper()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [%q]\nscrape_configs:\n", rules)
	for _, job := range []struct{ name, target string }{{"govcol", exporterURL}, {"govcol-internal", internalURL}} {
		u, err := url.Parse(job.target)
		require.NoError(t, err)
		fmt.Fprintf(&cfg, "  - job_name: %s\n    metrics_path: %s\n    static_configs:\n      - targets: [%q]\n", job.name, u.Path, u.Host)
	}
	return runPrometheus(t, dir, cfg.String())
}

// startAlertsCollector runs config/local.yaml (as StartLocalCollector does) against the Postgres of dsn, with an
// overlay config: a short postgresaudit retry budget (a batch spills after about 3 s instead of 40 s) and a
// revocation file listing revokedID.
func startAlertsCollector(t *testing.T, dsn, revokedID string) *Collector {
	t.Helper()
	bin := GovcolBinary(t)
	dir := t.TempDir()
	keys := NewKeys(t, dir)
	pem, err := os.ReadFile(keys.PEMPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "license-signing.pub.pem"), pem, 0o600))
	_, auditPub := NewAuditKey(t, dir)
	revoked := filepath.Join(dir, "revoked.txt")
	require.NoError(t, os.WriteFile(revoked, []byte(revokedID+"\n"), 0o600))
	overlay := filepath.Join(dir, "overlay.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte(fmt.Sprintf(`extensions:
  licenseauth:
    revocation_file: %q
    revocation_check_interval: 200ms
exporters:
  postgresaudit:
    timeout: 1s
    pool: {connect_timeout: 500ms}
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 5s}
`, revoked)), 0o600))
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
		"GOVCOL_DIR=" + dir, "GOVCOL_PG_DSN=" + dsn, "GOVCOL_QUERY_HASH_KEY=e2e-query-hash-key-0123456789",
		"GOVCOL_OTLP_GRPC_ENDPOINT=" + c.GRPCEndpoint, fmt.Sprintf("GOVCOL_OTLP_HTTP_ENDPOINT=127.0.0.1:%d", httpPort),
		fmt.Sprintf("GOVCOL_TELEMETRY_PORT=%d", telPort), fmt.Sprintf("GOVCOL_METRICS_ENDPOINT=127.0.0.1:%d", promPort),
		fmt.Sprintf("GOVCOL_HEALTH_ENDPOINT=127.0.0.1:%d", healthPort), "GOVCOL_SPAN_METRICS_FLUSH=1s",
		fmt.Sprintf("GOVCOL_AUDIT_API_ENDPOINT=127.0.0.1:%d", apiPort),
	}
	launch(t, c, bin, []string{"--config", filepath.Join(RepoRoot(t), "config", "local.yaml"), "--config", overlay}, env, healthPort)
	return c
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// promAlerts returns the pending and firing alerts of Prometheus' /api/v1/alerts.
func promAlerts(t *testing.T, base string) []promAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/alerts")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Equal(t, "success", r.Status)
	return r.Data.Alerts
}

// ruleHealth returns, per rule name, the health of its last evaluation ("ok", "err" or "unknown") and its error.
func ruleHealth(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/rules")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	out := map[string]string{}
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			out[rule.Name] = rule.Health + " " + rule.LastError
		}
	}
	return out
}

// The shipped rules against a real Prometheus scraping govcol (config/local.yaml) every second: quiet under a clean
// `govctl load` (every rule evaluates without error, the decision and per-developer metrics they read are there, no
// alert is pending or firing), then, with Postgres stopped, the decision directory made unusable, and clients
// sending a revoked and a foreign license, the matching alerts reach firing in /api/v1/alerts while no governance
// alert ever does. The rules run as shipped except `for:` (2s) and the evaluation interval (1s), see e2eRules.
func TestAlertsAgainstPrometheus(t *testing.T) {
	rules, _ := loadAlertRules(t)
	governance := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if g.Name == "govcol-governance" && r.Alert != "" {
				governance[r.Alert] = true
			}
		}
	}
	require.Len(t, governance, 4)

	cluster := pgtest.NewCluster(t)
	keysDir := t.TempDir()
	revokedClaims := license.NewClaims("org-alerts", "tenant-alerts", "client-revoked", "standard", "", time.Now(), time.Hour)
	c := startAlertsCollector(t, cluster.DSN("postgres"), revokedClaims.LicenseID())
	revoked, err := license.Issue(c.Keys.Priv, revokedClaims)
	require.NoError(t, err)
	foreign := NewKeys(t, keysDir).License(t, "org-alerts", "tenant-alerts", "client-foreign", "")
	lic := c.Keys.License(t, "org-alerts", "tenant-alerts", "client-alerts", "")
	prom := startAlertingPrometheus(t, t.TempDir(), e2eRules(t, t.TempDir()), c.ExporterMetricsURL, c.MetricsURL)

	// A governance alert seen pending or firing at any point fails the test.
	stop := make(chan struct{})
	seen := make(chan []string, 1)
	go func() {
		var bad []string
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				seen <- bad
				return
			case <-tick.C:
			}
			resp, err := http.Get(prom + "/api/v1/alerts")
			if err != nil {
				continue
			}
			var r struct {
				Data struct{ Alerts []promAlert } `json:"data"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			for _, a := range r.Data.Alerts {
				if governance[a.Labels["alertname"]] {
					bad = append(bad, fmt.Sprintf("%s %s %v", a.Labels["alertname"], a.State, a.Labels))
				}
			}
		}
	}()
	defer func() {
		close(stop)
		assert.Empty(t, <-seen, "governance alerts on clean load or on pipeline faults")
	}()

	// Clean: 5 developers, about 660 events.
	start := time.Now()
	clean := Load(t, c, lic, "http", "--developers", "5", "--batch", "2", "--rate", "110", "--duration", "6s")()
	require.Equal(t, clean.EventsSent, clean.EventsAcked, clean.FirstError)
	require.Eventually(t, func() bool {
		return len(promQuery(t, prom, `govcol_developer_events_total{audit_request_type="claude_code_tool_result"}`)) == 5 &&
			len(promQuery(t, prom, `otelcol_governance_checkpoints{outcome="sent"}`)) == 1
	}, 20*time.Second, 500*time.Millisecond, "the per-developer and checkpoint metrics reach Prometheus")
	time.Sleep(3 * time.Second) // several evaluations (each second) over the scraped load
	nRules := 0
	for _, g := range rules.Groups {
		nRules += len(g.Rules)
	}
	health := ruleHealth(t, prom)
	require.Len(t, health, nRules, "every rule loaded")
	for name, health := range health {
		assert.True(t, strings.HasPrefix(health, "ok "), "rule %s: %s", name, health)
	}
	assert.Empty(t, promAlerts(t, prom), "no alert on a clean load")
	t.Logf("clean load: %s; quiet for %.0fs", clean, time.Since(start).Seconds())

	// Faults: Postgres stopped under load, the decision directory replaced by a file, a revoked and a foreign
	// license.
	faultAt := time.Now()
	require.NoError(t, cluster.Stop(context.Background(), "immediate"))
	decisions := filepath.Join(c.Dir, "decisions")
	require.NoError(t, os.RemoveAll(decisions))
	require.NoError(t, os.WriteFile(decisions, nil, 0o600))
	loads := []func() LoadResult{
		Load(t, c, lic, "http", "--developers", "5", "--batch", "2", "--rate", "110", "--duration", "10s", "--max-in-flight", "32"),
		Load(t, c, revoked, "http", "--developers", "1", "--batch", "1", "--rate", "55", "--duration", "10s"),
		Load(t, c, foreign, "grpc", "--developers", "1", "--batch", "1", "--rate", "55", "--duration", "10s"),
	}
	want := map[string]string{
		"GovcolPostgresFallbackActive":   "",
		"GovcolDecisionStoreBreakerOpen": "",
		"GovcolDecisionsNotShipped":      "",
		"GovcolLicenseFailures":          "revoked",
		"GovcolLicenseForgeryAttempts":   "unknown_kid",
	}
	firing := map[string]time.Duration{}
	require.Eventually(t, func() bool {
		for _, a := range promAlerts(t, prom) {
			name := a.Labels["alertname"]
			if reason, ok := want[name]; ok && a.State == "firing" && (reason == "" || a.Labels["reason"] == reason) {
				if _, done := firing[name]; !done {
					firing[name] = time.Since(faultAt).Round(time.Second)
				}
			}
		}
		return len(firing) == len(want)
	}, 60*time.Second, 500*time.Millisecond, "fault alerts firing: %v of %v", firing, want)
	// The dashboard's Alerts row shows them: by severity, and one by one.
	var bySeverity, each string
	for _, p := range loadDashboard(t) {
		switch p.Title {
		case "Firing alerts by severity":
			bySeverity = p.Targets[0].Expr
		case "Firing alerts":
			each = p.Targets[0].Expr
		}
	}
	require.NotEmpty(t, bySeverity, "the dashboard's firing-alerts-by-severity panel")
	require.NotEmpty(t, each, "the dashboard's firing-alerts panel")
	severities := map[string]bool{}
	for _, s := range promQuery(t, prom, bySeverity) {
		severities[s.Metric["severity"]] = true
	}
	assert.True(t, severities["critical"] && severities["warning"], "severities on the dashboard: %v", severities)
	shown := map[string]bool{}
	for _, s := range promQuery(t, prom, each) {
		shown[s.Metric["alertname"]] = true
	}
	for name := range want {
		assert.True(t, shown[name], "%s in the dashboard's firing alerts %v", name, shown)
	}
	for _, l := range loads {
		r := l()
		t.Logf("load during the faults: %s", r)
	}
	names := make([]string, 0, len(firing))
	for n, d := range firing {
		names = append(names, fmt.Sprintf("%s after %s", n, d))
	}
	sort.Strings(names)
	t.Logf("firing: %s; spilled %.0f, decision objects failed %.0f, license failures revoked %.0f / unknown_kid %.0f",
		strings.Join(names, ", "), c.Metric(t, "otelcol_postgresaudit_fallback_spilled"),
		c.Metric(t, "otelcol_s3decision_objects", `outcome="failed"`),
		c.Metric(t, "otelcol_licenseauth_failures", `reason="revoked"`), c.Metric(t, "otelcol_licenseauth_failures", `reason="unknown_kid"`))
}
