// Package audittest gives tests realistic canonical audit records: the captured Claude Code 2.1.330 logs
// (testdata/) run through the real governance processor, and renumbered copies of them.
package audittest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/processor/governanceprocessor"
)

// FixtureRecords is the number of log records in the fixture.
const FixtureRecords = 11

// rawFixture parses the embedded capture (a fresh copy on every call).
func rawFixture(t testing.TB) plog.Logs {
	t.Helper()
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(govcol.ClaudeCodeLogsJSON)
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

// Governed returns the fixture logs governed for tenant (org "org-<tenant>", client "client-<tenant>", through the
// processor's development default tenant).
func Governed(t testing.TB, tenant string) plog.Logs {
	t.Helper()
	ld := rawFixture(t)
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
	if len(sink.AllLogs()) != 1 || sink.AllLogs()[0].LogRecordCount() != FixtureRecords {
		t.Fatalf("audittest: the governance processor returned %d batches", len(sink.AllLogs()))
	}
	return sink.AllLogs()[0]
}

var seq atomic.Int64

// Renumber returns a copy of ld whose records have new ids and decision ids (and, when ts is set, that event time),
// as if they were different events.
func Renumber(ld plog.Logs, ts time.Time) plog.Logs {
	out := plog.NewLogs()
	ld.CopyTo(out)
	for _, rl := range out.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				a := lr.Attributes()
				a.PutStr(audit.AttrID, fmt.Sprintf("aud_%032x", seq.Add(1)))
				a.PutStr(audit.AttrDecisionID, uuid.Must(uuid.NewV7()).String())
				if !ts.IsZero() {
					a.PutStr(audit.AttrTimestamp, ts.UTC().Format(time.RFC3339Nano))
				}
			}
		}
	}
	return out
}

// Batch returns copies renumbered copies of base merged into one batch.
func Batch(base plog.Logs, copies int) plog.Logs {
	out := plog.NewLogs()
	for range copies {
		Renumber(base, time.Time{}).ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
	}
	return out
}

// Raw returns the captured (ungoverned) Claude Code logs with every timestamp shifted by shift seconds: the same
// events happening at another time, so the governance processor derives other record ids.
func Raw(t testing.TB, shift int) plog.Logs {
	t.Helper()
	ld := rawFixture(t)
	d := time.Duration(shift) * time.Second
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.Timestamp() != 0 {
					lr.SetTimestamp(pcommonTime(lr.Timestamp().AsTime().Add(d)))
				}
				if lr.ObservedTimestamp() != 0 {
					lr.SetObservedTimestamp(pcommonTime(lr.ObservedTimestamp().AsTime().Add(d)))
				}
			}
		}
	}
	return ld
}

func pcommonTime(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

// FixtureFirstRequestType is the request_type of the fixture's first record as governed.
func FixtureFirstRequestType(t testing.TB) string {
	t.Helper()
	ld := Governed(t, "x")
	v, _ := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get(audit.AttrRequestType)
	return v.Str()
}
