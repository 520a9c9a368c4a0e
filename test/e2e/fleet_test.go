package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Placeholders in deploy/claude-code/managed-settings.json that a deployment replaces.
const (
	templateEndpoint = "https://govcol.example.com:4318"
	templateHelper   = "/usr/local/bin/govctl otel-headers --identity git"
)

// fleetSettings renders the shipped managed-settings template for this machine: the gateway endpoint, the helper
// command, and short export intervals so a one-prompt run flushes quickly. Everything else is the template's.
func fleetSettings(t *testing.T, endpoint, helper string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(RepoRoot(t), "deploy", "claude-code", "managed-settings.json"))
	require.NoError(t, err)
	var s map[string]any
	require.NoError(t, json.Unmarshal(raw, &s))
	require.Equal(t, templateHelper, s["otelHeadersHelper"], "the template's helper placeholder")
	env := s["env"].(map[string]any)
	require.Equal(t, templateEndpoint, env["OTEL_EXPORTER_OTLP_ENDPOINT"], "the template's endpoint placeholder")
	require.Contains(t, []any{"http/protobuf", "http/json"}, env["OTEL_EXPORTER_OTLP_PROTOCOL"],
		"otelHeadersHelper applies to the http protocols only")
	require.NotContains(t, env, "OTEL_EXPORTER_OTLP_HEADERS", "the headers come from the helper, never from the file")
	s["otelHeadersHelper"] = helper
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
	env["OTEL_METRIC_EXPORT_INTERVAL"] = "1000"
	env["OTEL_LOGS_EXPORT_INTERVAL"] = "500"
	env["OTEL_TRACES_EXPORT_INTERVAL"] = "500"
	return s
}

// TestFleetRolloutHeadersHelper is what a security team deploys to a laptop: the managed-settings template (as the
// user settings of a temporary HOME: the same keys, without writing to /etc) with otelHeadersHelper running the real
// `govctl otel-headers`, which reads the developer's license file and identity file. The CLI gets no OTEL_* variable
// and no header from the environment; every stored row must carry the helper's tenant and developer.
func TestFleetRolloutHeadersHelper(t *testing.T) {
	sink := NewSink(t)
	gw := StartCollector(t, sink)
	stub := NewAnthropicStub(t)

	dev := t.TempDir()
	lic := gw.Keys.License(t, "org-fleet", "tenant-fleet", "client-fleet", "")
	licFile := filepath.Join(dev, "license")
	require.NoError(t, os.WriteFile(licFile, []byte(lic+"\n"), 0o600))
	idFile := filepath.Join(dev, "identity")
	require.NoError(t, os.WriteFile(idFile, []byte("fleet.dev@example.com\n"), 0o600))
	govctl := filepath.Join(filepath.Dir(GovcolBinary(t)), "govctl")
	helper := govctl + " otel-headers --license-file " + licFile + " --identity file:" + idFile

	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".claude"), 0o700))
	settings, err := json.MarshalIndent(fleetSettings(t, gw.HTTPEndpoint, helper), "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(home, ".claude", "settings.json"), settings, 0o600))

	work := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(work, "README.txt"), []byte("hello\n"), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ClaudeBinary(t), "-p", "list files", "--allowedTools", "Bash", "--output-format", "text")
	cmd.Dir = work
	cmd.Env = []string{ // nothing telemetry-related: it all comes from settings.json and the helper
		"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TERM=xterm",
		"ANTHROPIC_API_KEY=sk-ant-e2e-not-a-real-key", "ANTHROPIC_BASE_URL=" + stub.URL,
		"DISABLE_AUTOUPDATER=1", "DISABLE_ERROR_REPORTING=1",
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "claude failed (stub saw %v):\n%s", stub.Requests(), out)
	require.Contains(t, string(out), "Here are the files")

	db, err := pgx.Connect(context.Background(), gw.PostgresDSN)
	require.NoError(t, err)
	defer db.Close(context.Background())
	count := func(sql string) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRow(context.Background(), sql).Scan(&n), sql)
		return n
	}
	require.Eventually(t, func() bool {
		return count(`SELECT count(DISTINCT request_type) FROM audit_logs WHERE request_type IN
			('claude_code_user_prompt', 'claude_code_tool_decision', 'claude_code_api_request')`) == 3
	}, 30*time.Second, 250*time.Millisecond, "the run's events in audit_logs (gateway log:\n%s)", gw.Output())
	assert.Zero(t, count(`SELECT count(*) FROM audit_logs WHERE tenant_id <> 'tenant-fleet' OR org_id <> 'org-fleet'
		OR client_id <> 'client-fleet' OR user_email <> 'fleet.dev@example.com' OR identity_source <> 'header'
		OR origin <> 'claude-code'`), "every row carries the helper's license and identity")
	assert.Positive(t, count(`SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_user_prompt'
		AND query LIKE '%list files%'`), "the template captures prompt content")
	assert.Positive(t, count(`SELECT count(*) FROM audit_logs WHERE request_type = 'claude_code_tool_decision'
		AND tool_name = 'Bash'`))
	assert.Positive(t, gw.Metric(t, "otelcol_licenseauth_successes"))
	assert.Zero(t, gw.Metric(t, "otelcol_licenseauth_failures"), "no request went out without the helper's headers")
	assert.False(t, strings.Contains(gw.Output(), lic), "the gateway's log never contains the license")
}
