package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/pgtest"
)

// cpuSeconds is the process's user + system CPU time so far (/proc/<pid>/stat).
func (c *Collector) cpuSeconds(t testing.TB) float64 {
	t.Helper()
	f := procStat(c.proc.cmd.Process.Pid)
	require.NotNil(t, f, "the collector is gone")
	return ticks(t, f, statUtime, statStime)
}

// settled waits until the metric has not moved for a second.
func settled(t testing.TB, c *Collector, name string, labels ...string) float64 {
	last := -1.0
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		n := c.Metric(t, name, labels...)
		if n == last {
			return n
		}
		last = n
	}
	t.Fatalf("%s still moving after 2 minutes", name)
	return 0
}

// prefill puts n small files into today's decision directory under dir, as a quick start that ran for a while.
func prefill(t testing.TB, dir string, n int) {
	day := filepath.Join(dir, "axonflow", "decisions", time.Now().UTC().Add(-time.Hour).Format("2006/01/02"))
	require.NoError(t, os.MkdirAll(day, 0o750))
	for i := range n {
		require.NoError(t, os.WriteFile(filepath.Join(day, fmt.Sprintf("0190%04x-0000-7000-8000-%012x.json", i>>16, i)), []byte("{}"), 0o640))
	}
}

type decisionRun struct {
	cpu, seconds, shipped float64
}

// runDecisionLoad starts bin with the decision exporter block, sends events with `govctl load` and waits until
// Postgres holds them all and the decision exporter has settled; it returns the collector's CPU time over that
// window, the window, and the decisions shipped.
func runDecisionLoad(b *testing.B, bin, block string, events int) decisionRun {
	c := startDecisionCollector(b, bin, pgtest.NewDatabase(b), block)
	lic := c.Keys.License(b, "org-s3", "tenant-s3", "client-s3", "")
	cpu0, start := c.cpuSeconds(b), time.Now()
	res := Load(b, c, lic, "http", "--developers", "5", "--concurrency", "4", "--batch", "10", "--duration", "5m",
		"--max-events", strconv.Itoa(events))()
	require.Empty(b, res.FirstError)
	require.Eventually(b, func() bool { n, _ := Stored(b, c.PostgresDSN, "tenant-s3"); return n >= res.EventsAcked },
		2*time.Minute, 100*time.Millisecond)
	var shipped float64
	if block != "" {
		settled(b, c, "otelcol_s3decision_objects")
		shipped = c.Metric(b, "otelcol_s3decision_objects", `outcome="shipped"`)
	}
	run := decisionRun{cpu: c.cpuSeconds(b) - cpu0, seconds: time.Since(start).Seconds(), shipped: shipped}
	c.stop(syscall.SIGTERM, 15*time.Second)
	return run
}

// BenchmarkDecisionStore measures the decision store end to end with the built collector and `govctl load`:
//
//   - local_dir: the collector's CPU per 1,000 events with the exporter writing to a directory that already holds
//     GOVCOL_BENCH_PREFILL files (default 200,000) for today, against the same load without the exporter (its share
//     of the collector's CPU), for GOVCOL_BASELINE_BIN (the collector before the change: every record, a temporary
//     file per decision in the day directory), this tree with the default selection, and this tree shipping every
//     record. Runs alternate, two rounds.
//   - S3 (versitygw): decisions/s shipped live and the collector CPU per shipped decision, per_decision and
//     batched; then the store down for a whole run and, when it returns, the time until the bucket listing equals
//     the selected decisions in Postgres, and the reconciler's decisions/s over that time.
//
// Run: go build -o /tmp/govcol-base ./cmd/govcol (at the baseline commit) && GOVCOL_BASELINE_BIN=/tmp/govcol-base \
// go test -run '^$' -bench DecisionStore -benchtime 1x -v ./test/e2e/
func BenchmarkDecisionStore(b *testing.B) {
	base := os.Getenv("GOVCOL_BASELINE_BIN")
	require.NotEmpty(b, base, "GOVCOL_BASELINE_BIN: the collector before the change")
	events := 11000
	if v, err := strconv.Atoi(os.Getenv("GOVCOL_BENCH_DECISION_EVENTS")); err == nil && v >= 1100 {
		events = v / 110 * 110
	}
	files := 200000
	if v, err := strconv.Atoi(os.Getenv("GOVCOL_BENCH_PREFILL")); err == nil && v >= 0 {
		files = v
	}
	bin := GovcolBinary(b)
	for b.Loop() {
		dirs := map[string]string{}
		for _, v := range []string{"before", "after", "after_all"} {
			dirs[v] = b.TempDir()
			prefill(b, dirs[v], files)
		}
		variants := []struct {
			name, bin, block string
		}{
			{"none", bin, ""},
			{"before", base, fmt.Sprintf("\n  s3decision:\n    local_dir: %q", dirs["before"])},
			{"after", bin, fmt.Sprintf("\n  s3decision:\n    local_dir: %q", dirs["after"])},
			{"after_all", bin, fmt.Sprintf("\n  s3decision:\n    local_dir: %q\n    selection: \"true\"", dirs["after_all"])},
		}
		cpu := map[string]float64{}
		shipped := map[string]float64{}
		for round := range 2 {
			for i := range variants {
				v := variants[(i+round)%len(variants)]
				r := runDecisionLoad(b, v.bin, v.block, events)
				cpu[v.name] += r.cpu / 2
				shipped[v.name] += r.shipped / 2
				b.Logf("round %d %s: %.2f CPU s for %d events (%.1f s), %.0f files", round+1, v.name, r.cpu, events, r.seconds, r.shipped)
			}
		}
		for _, v := range variants[1:] {
			share := (cpu[v.name] - cpu["none"]) / cpu[v.name]
			b.Logf("DECISIONS local_dir %-9s (%d files before): collector %.0f CPU ms per 1,000 events (%.0f without the exporter), "+
				"exporter share %.0f %%, %.0f files per run, %.0f CPU µs per file", v.name, files, cpu[v.name]*1e6/float64(events),
				cpu["none"]*1e6/float64(events), 100*share, shipped[v.name], (cpu[v.name]-cpu["none"])*1e6/shipped[v.name])
			b.ReportMetric(100*share, v.name+"_cpu_share_%")
		}

		for _, layout := range []string{"per_decision", "batched"} {
			r := startDecisionRig(b, layout)
			cpu0, start := r.c.cpuSeconds(b), time.Now()
			r.load(b, events)
			live := settled(b, r.c, "otelcol_s3decision_objects", `outcome="shipped"`)
			liveSecs, liveCPU := time.Since(start).Seconds(), r.c.cpuSeconds(b)-cpu0
			// The exporter's CPU: the run's CPU minus the same load without it (the local_dir "none" runs).
			perDecision := (liveCPU - cpu["none"]) / live
			b.Logf("DECISIONS S3 %-12s live: %.0f decisions shipped of %d events in %.1f s (%.0f decisions/s); collector CPU "+
				"%.2f s vs %.2f s without the exporter: %.0f µs per shipped decision", layout, live, events, liveSecs,
				live/liveSecs, liveCPU, cpu["none"], perDecision*1e6)
			r.srv.Stop()
			r.load(b, events)
			require.NoError(b, r.srv.Resume())
			rec0 := r.c.Metric(b, "otelcol_s3decision_reconciled")
			took := r.awaitComplete(b, 5*time.Minute)
			rec := r.c.Metric(b, "otelcol_s3decision_reconciled") - rec0
			b.Logf("DECISIONS S3 %-12s outage: store down for %d events; complete %.1f s after it returned; reconciler %.0f "+
				"decisions in that time (%.0f decisions/s)", layout, events, took.Seconds(), rec, rec/took.Seconds())
			b.ReportMetric(live/liveSecs, layout+"_live_decisions/s")
			b.ReportMetric(took.Seconds(), layout+"_complete_s")
		}
	}
}
