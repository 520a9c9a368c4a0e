// Package governancetest gives tests canonical audit records as the governance processor builds them: the captured
// Claude Code 2.1.330 logs (internal/audittest) run through the real processor. Processor-free helpers (renumbering,
// batches, the raw capture) are in internal/audittest.
package governancetest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/processor/governanceprocessor"
)

// Governed returns the fixture logs governed for tenant (org "org-<tenant>", client "client-<tenant>", through the
// processor's development default tenant).
func Governed(t testing.TB, tenant string) plog.Logs {
	t.Helper()
	ld := audittest.Raw(t, 0)
	f := governanceprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*governanceprocessor.Config)
	cfg.AllowUnauthenticated = true
	cfg.DefaultTenant = governanceprocessor.DefaultTenantConfig{OrgID: "org-" + tenant, TenantID: tenant, ClientID: "client-" + tenant}
	sink := new(consumertest.LogsSink)
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	if err == nil {
		err = p.Start(context.Background(), componenttest.NewNopHost())
	}
	if err == nil {
		err = p.ConsumeLogs(context.Background(), ld)
	}
	if err == nil {
		err = p.Shutdown(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.AllLogs()) != 1 || sink.AllLogs()[0].LogRecordCount() != audittest.FixtureRecords {
		t.Fatalf("governancetest: the governance processor returned %d batches", len(sink.AllLogs()))
	}
	return sink.AllLogs()[0]
}

// FixtureFirstRequestType is the request_type of the fixture's first record as governed.
func FixtureFirstRequestType(t testing.TB) string {
	t.Helper()
	ld := Governed(t, "x")
	v, _ := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get(audit.AttrRequestType)
	return v.Str()
}
