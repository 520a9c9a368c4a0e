package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dashboardPanel is the part of a Grafana panel the test reads.
type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) []dashboardPanel {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "dashboards", "claude-code-governance.json"))
	require.NoError(t, err)
	var d struct {
		SchemaVersion int              `json:"schemaVersion"`
		Panels        []dashboardPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.GreaterOrEqual(t, d.SchemaVersion, 39, "Grafana 11 schema")
	require.NotEmpty(t, d.Templating.List)
	assert.Equal(t, "datasource", d.Templating.List[0].Type, "the datasource is a variable")
	require.NotEmpty(t, d.Panels)
	return d.Panels
}

// startPrometheus runs the real Prometheus (Debian package) scraping the collector every second.
func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	var jobs strings.Builder
	for i, target := range targets {
		u, err := url.Parse(target)
		require.NoError(t, err)
		fmt.Fprintf(&jobs, "  - job_name: job%d\n    scrape_interval: 1s\n    metrics_path: %s\n    static_configs:\n      - targets: [%q]\n", i, u.Path, u.Host)
	}
	return runPrometheus(t, t.TempDir(), "global:\n  scrape_interval: 1s\nscrape_configs:\n"+jobs.String())
}

// runPrometheus starts the real Prometheus with the configuration cfg (written to dir, which also holds its
// storage) on a free loopback port, stops it when the test ends, and returns its base URL once it is ready.
func runPrometheus(t *testing.T, dir, cfg string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	require.NoError(t, err, "prometheus not found: apt-get install prometheus (Prometheus 2.42)")
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	port := FreePort(t)
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "prometheus ready")
	return base
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

// promQuery evaluates expr through the HTTP API; an invalid expression fails the test.
func promQuery(t *testing.T, base, expr string) []promSample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Equal(t, "success", r.Status, "%s: %s", expr, r.Error)
	var samples []promSample
	if r.Data.ResultType == "vector" {
		require.NoError(t, json.Unmarshal(r.Data.Result, &samples))
	}
	return samples
}

// The dashboard against a real Prometheus scraping govcol running the shipped config/local.yaml while the real
// Claude Code CLI works through it: every panel's PromQL is valid (promtool) and returns data, and the per-developer
// panels show the developer named in X-User-Email.
func TestDashboardAgainstPrometheus(t *testing.T) {
	panels := loadDashboard(t)
	var exprs []string
	for _, p := range panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}

	// promtool validates every expression (as recording rules).
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		fmt.Fprintf(&rules, "      - record: dashboard:panel_%d\n        expr: %q\n", i, e)
	}
	rulesFile := filepath.Join(t.TempDir(), "rules.yml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(rules.String()), 0o600))
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool not found: apt-get install prometheus")
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	require.NoError(t, err, "promtool: %s", out)

	c := StartLocalCollector(t)
	prom := startPrometheus(t, c.ExporterMetricsURL, c.MetricsURL)
	stub := NewAnthropicStub(t)
	lic := c.Keys.License(t, "org-e2e", "tenant-e2e", "client-e2e", "")
	RunClaude(t, c, stub, ClaudeRun{Protocol: "http/json", Headers: headers("Bearer " + lic), Prompt: fixturePrompt})
	// A tool call the CLI refuses (not read-only, not allowed): a blocked decision for the top-policies panel.
	deny := NewAnthropicStub(t)
	deny.Command = "touch govcol-denied.txt"
	RunClaude(t, c, deny, ClaudeRun{Protocol: "grpc", Headers: headers("Bearer " + lic), Prompt: "tidy the folder", DenyTools: true})

	require.Eventually(t, func() bool {
		for _, e := range exprs {
			if len(promQuery(t, prom, e)) == 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, time.Second, "every panel returns data")

	for _, p := range panels {
		for _, tg := range p.Targets {
			samples := promQuery(t, prom, tg.Expr)
			require.NotEmpty(t, samples, "%s: %s", p.Title, tg.Expr)
			if strings.Contains(p.Title, "per developer") {
				for _, s := range samples {
					assert.Equal(t, "dev@example.com", s.Metric["user_email"], "%s: %v", p.Title, s.Metric)
				}
			}
		}
	}
	// The values mean what the panels say.
	blocks := promQuery(t, prom, `sum by (audit_policy_label) (govcol_blocks_total)`)
	require.Len(t, blocks, 1)
	assert.Equal(t, "sys_tool_rejected", blocks[0].Metric["audit_policy_label"])
	pii := promQuery(t, prom, `sum by (pii_type) (otelcol_governance_pii_detections)`)
	types := map[string]bool{}
	for _, s := range pii {
		types[s.Metric["pii_type"]] = true
	}
	assert.True(t, types["ssn"] && types["credit_card"], "pii types %v", types)
	tenants := promQuery(t, prom, `count by (audit_tenant_id) (govcol_decisions_total)`)
	require.Len(t, tenants, 1)
	assert.Equal(t, "tenant-e2e", tenants[0].Metric["audit_tenant_id"])

	// The same collector serves the audit API over the records it stored (auditapi in config/local.yaml).
	req, err := http.NewRequest("POST", c.AuditAPIURL+"/api/v1/audit/search", strings.NewReader(`{"action":"blocked"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.Keys.ReadLicense(t, "org-e2e", "tenant-e2e", "auditor-e2e"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var found struct {
		Total   int              `json:"total"`
		Entries []map[string]any `json:"entries"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&found))
	require.Equal(t, 1, found.Total, "the refused tool call")
	assert.Equal(t, "claude_code_tool_decision", found.Entries[0]["request_type"])
	assert.Equal(t, "tenant-e2e", found.Entries[0]["tenant_id"])
}
