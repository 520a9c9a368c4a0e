// Package audittest gives tests the captured Claude Code 2.1.330 logs (testdata/) and helpers over governed
// records (renumbered copies, batches). It does not depend on any component: the fixture as the governance processor
// governs it is processor/governanceprocessor/governancetest, and, stored, GovernedFixture.
package audittest

import (
	_ "embed"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol"
	"github.com/govcol/govcol/internal/audit"
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

//go:embed testdata/governed-tenant-a.json
var governedJSON []byte

// GovernedFixture is the fixture as the governance processor governed it for tenant-a (org-tenant-a,
// client-tenant-a), stored in testdata/governed-tenant-a.json: a fresh copy on every call. It lets packages below
// the processor test against governed records without depending on it; governancetest's TestGovernedFixtureIsCurrent
// fails when the processor would govern the capture differently (go test ./processor/governanceprocessor/governancetest
// -update rewrites the file).
func GovernedFixture(t testing.TB) plog.Logs {
	t.Helper()
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(governedJSON)
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

// Record is the audit record a governed log record carries (audit.FromLogRecordAnyTime: a record whose time does
// not parse has a zero Timestamp), without its resource. Tests read fields through it: most fields travel in
// audit.record, not as attributes of their own.
func Record(t testing.TB, lr plog.LogRecord) audit.Record {
	t.Helper()
	r, _, err := audit.FromLogRecordAnyTime(pcommon.NewResource(), lr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
