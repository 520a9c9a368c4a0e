package governanceprocessor

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

// BenchmarkLogsFixtureMix processes the real Claude Code event mix (user_prompt with an SSN and a card number,
// tool_decision, tool_result, api_request, assistant_response, plugin_loaded, managed_settings_resolved) through
// the whole log path: identity, stripping, masking, mapping, built-in rules, the three OTTL system policies and the
// audit.* stamping. Batches hold 10 copies of the fixture (110 records) to resemble an exporter's batch. Reported:
// ns/record, records/s on one core and bytes allocated per record.
func BenchmarkLogsFixtureMix(b *testing.B) {
	g := newTestGovernor(b, nil)
	ctx := authCtx(license(), claudeHeaders())
	base := fixtureLogs(b)
	batch := plog.NewLogs()
	for range 10 {
		base.ResourceLogs().At(0).CopyTo(batch.ResourceLogs().AppendEmpty())
	}
	perBatch := batch.LogRecordCount()
	// Inputs are copied outside the timing, a bounded number at a time: holding b.N copies live at once would make
	// the garbage collector scan hundreds of megabytes during the timing and understate the throughput.
	const chunk = 64
	work := make([]plog.Logs, chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%chunk == 0 {
			b.StopTimer()
			for j := range work {
				work[j] = plog.NewLogs()
				batch.CopyTo(work[j])
			}
			b.StartTimer()
		}
		if _, err := g.processLogs(ctx, work[i%chunk]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	records := float64(b.N * perBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLogsAllocsPerRecord reports allocated bytes per record (B/op divided by the batch size).
func BenchmarkLogsAllocsPerRecord(b *testing.B) {
	g := newTestGovernor(b, nil)
	ctx := authCtx(license(), claudeHeaders())
	base := fixtureLogs(b)
	perBatch := base.LogRecordCount()
	work := make([]plog.Logs, b.N)
	for i := range work {
		work[i] = plog.NewLogs()
		base.CopyTo(work[i])
	}
	var before, after runtimeMem
	before.read()
	b.ResetTimer()
	for i := range b.N {
		if _, err := g.processLogs(ctx, work[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after.read()
	b.ReportMetric(float64(after.bytes-before.bytes)/float64(b.N*perBatch), "B/record")
	b.ReportMetric(float64(after.mallocs-before.mallocs)/float64(b.N*perBatch), "allocs/record")
}
