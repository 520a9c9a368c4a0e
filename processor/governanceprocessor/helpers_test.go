package governanceprocessor

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/govcol/govcol/internal/audit"
)

// authData is the client.AuthData the licenseauth extension produces.
type authData map[string]string

func (a authData) GetAttribute(k string) any {
	if v, ok := a[k]; ok {
		return v
	}
	return nil
}

func (a authData) GetAttributeNames() []string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	return names
}

// license is the auth data of a per-client license for tenant-a.
func license() authData {
	return authData{"org_id": "org-a", "tenant_id": "tenant-a", "client_id": "client-a", "tier": "team", "license_id": "lic-1"}
}

// authCtx is a request context as the OTLP receiver builds it with licenseauth and include_metadata.
func authCtx(auth authData, headers map[string][]string) context.Context {
	info := client.Info{Metadata: client.NewMetadata(headers)}
	if auth != nil {
		info.Auth = auth.boxed()
	}
	return client.NewContext(context.Background(), info)
}

// boxedAuth is authData with its values boxed once, as the licenseauth extension's are (its auth data is cached with
// the license): GetAttribute does not allocate.
type boxedAuth struct {
	attrs map[string]any
	names []string
}

func (a authData) boxed() boxedAuth {
	b := boxedAuth{attrs: make(map[string]any, len(a)), names: a.GetAttributeNames()}
	for k, v := range a {
		b.attrs[k] = v
	}
	return b
}

func (b boxedAuth) GetAttribute(k string) any   { return b.attrs[k] }
func (b boxedAuth) GetAttributeNames() []string { return b.names }

// claudeHeaders are the headers of the fixture run.
func claudeHeaders() map[string][]string {
	return map[string][]string{
		"X-User-Email": {"Dev@Example.com"}, "X-Session-Id": {"sess-123"}, "X-Axonflow-Client": {"claude-code"},
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "claude-code-2.1.330", name))
	require.NoError(t, err)
	return b
}

func fixtureLogs(t testing.TB) plog.Logs {
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(fixture(t, "logs.json"))
	require.NoError(t, err)
	return ld
}

func fixtureTraces(t testing.TB) ptrace.Traces {
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(fixture(t, "traces.json"))
	require.NoError(t, err)
	return td
}

func fixtureMetrics(t testing.TB) pmetric.Metrics {
	md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(fixture(t, "metrics.json"))
	require.NoError(t, err)
	return md
}

func newTestGovernor(t testing.TB, mutate func(*Config)) *governor {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	g, err := newGovernor(cfg, componenttest.NewNopTelemetrySettings())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// records processes logs and returns the canonical records read back the way the exporters read them.
func records(t testing.TB, g *governor, ctx context.Context, ld plog.Logs) []audit.Record {
	t.Helper()
	out, err := g.processLogs(ctx, ld)
	require.NoError(t, err)
	var recs []audit.Record
	for _, rl := range out.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r, err := audit.FromLogRecord(rl.Resource(), lr)
				require.NoError(t, err)
				recs = append(recs, r)
			}
		}
	}
	return recs
}

// byEvent indexes records by their event name (the first of each).
func byEvent(recs []audit.Record) map[string]audit.Record {
	m := map[string]audit.Record{}
	for _, r := range recs {
		ev, _ := r.Metadata["event_name"].(string)
		if _, ok := m[ev]; !ok {
			m[ev] = r
		}
	}
	return m
}

// logOf builds a one-record batch for a service with the given attributes.
func logOf(service, body string, attrs map[string]any) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr(body)
	lr.SetTimestamp(1795337174732000000)
	if err := lr.Attributes().FromRaw(attrs); err != nil {
		panic(err)
	}
	return ld
}
