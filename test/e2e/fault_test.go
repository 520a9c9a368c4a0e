package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/s3test"
)

// The fault runs. CI runs their bounded smoke form (seconds of load and outage); `make bench-history` sets
// GOVCOL_BENCH_FULL=1 for the full form (a 60 s Postgres outage, longer runs) and copies the figures they log into
// docs/BENCHMARKS-history.md (`make bench`: TestFaultS3DownWholeRun's, into docs/BENCHMARKS.md). Each reports events
// sent, acknowledged, stored and verified.

// scaled returns smoke in CI and full under `make bench` and `make bench-history` (GOVCOL_BENCH_FULL=1).
func scaled(smoke, full time.Duration) time.Duration {
	if os.Getenv("GOVCOL_BENCH_FULL") == "1" {
		return full
	}
	return smoke
}

func secs(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) + "s" }

// awaitStored waits until the tenant has at least acked rows, lets anything beyond them arrive, and counts again.
func awaitStored(t *testing.T, c *Collector, acked int64) (rows, distinct int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		rows, distinct = Stored(t, c.PostgresDSN, "tenant-fault")
		return rows >= acked
	}, 2*time.Minute, 500*time.Millisecond, "stored %d of %d acknowledged events", rows, acked)
	time.Sleep(2 * time.Second) // anything beyond the acknowledged events would show now
	return Stored(t, c.PostgresDSN, "tenant-fault")
}

// requireStoredOnce checks every acknowledged event is stored exactly once, and nothing else of the tenant.
func requireStoredOnce(t *testing.T, c *Collector, acked int64) (stored int64) {
	t.Helper()
	rows, distinct := awaitStored(t, c, acked)
	assert.Equal(t, acked, rows, "stored = acknowledged")
	assert.Equal(t, rows, distinct, "no duplicates")
	return rows
}

// requireClean is requireStoredOnce, and every chain verifies.
func requireClean(t *testing.T, c *Collector, r LoadResult) (stored int64) {
	t.Helper()
	stored = requireStoredOnce(t, c, r.EventsAcked)
	c.VerifyTrail(t)
	return stored
}

// requireAckedSessionsStored checks every session copy `govctl load --acked-file` listed has its 11 events stored,
// and that the file accounts for ackedEvents.
func requireAckedSessionsStored(t *testing.T, c *Collector, ackedFile string, ackedEvents int64) {
	t.Helper()
	n, missing := MissingAcked(t, c.PostgresDSN, ackedFile)
	assert.Empty(t, missing, "acknowledged sessions not stored")
	assert.EqualValues(t, ackedEvents, n*11)
}

// Postgres stopped (immediate shutdown) under load for scaled(8 s, 60 s), then started: the exporter retries and
// spills to its fallback file, replays it, and every acknowledged event is stored once; the trail verifies.
func TestFaultPostgresStoppedUnderLoad(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	c, lic := StartFaultCollector(t, FaultOptions{PostgresDSN: cluster.DSN("postgres")})
	outage := scaled(8*time.Second, 60*time.Second)
	acked := filepath.Join(t.TempDir(), "acked")
	wait := Load(t, c, lic, "http", "--rate", "1100", "--developers", "5", "--batch", "5", "--retry",
		"--duration", secs(outage+12*time.Second), "--max-events", "10000000", "--acked-file", acked)
	time.Sleep(3 * time.Second)
	ctx := context.Background()
	require.NoError(t, cluster.Stop(ctx, "immediate"))
	stoppedAt := time.Now()
	time.Sleep(outage)
	require.NoError(t, cluster.Start(ctx))
	down := time.Since(stoppedAt)
	r := wait()
	assert.Zero(t, r.FailedPermanent, r.FirstError)
	assert.Equal(t, r.EventsSent, r.EventsAcked, "the collector kept accepting while Postgres was down: %s", r.FirstError)
	stored := requireClean(t, c, r)
	requireAckedSessionsStored(t, c, acked, r.EventsAcked)
	t.Logf("FAULT postgres stopped %.0fs under load: %s; stored %d (exactly once); spilled %.0f, replayed %.0f; govctl verify OK",
		down.Seconds(), r, stored, c.Metric(t, "otelcol_postgresaudit_fallback_spilled"), c.Metric(t, "otelcol_postgresaudit_replayed"))
}

// S3 down for whole runs: the decisions are counted as failed or dropped, the Postgres path stores everything at
// the rate of a run with S3 up. After a warm-up run, the runs alternate up, down, down, up (a drift over the test,
// such as a growing table, weighs on both sides alike) and the rates compared are each side's median.
func TestFaultS3DownWholeRun(t *testing.T) {
	s3 := s3test.Start(t)
	s3.CreateBucket(t, "decisions", false)
	c, lic := StartFaultCollector(t, FaultOptions{S3: s3})
	d := scaled(4*time.Second, 15*time.Second)
	flags := []string{"--developers", "5", "--concurrency", "4", "--batch", "5", "--duration", secs(d), "--max-events", "10000000"}
	var total LoadResult
	run := func(what string) LoadResult {
		r := Load(t, c, lic, "http", flags...)()
		require.Equal(t, r.EventsSent, r.EventsAcked, "%s: %s", what, r.FirstError)
		total.EventsSent += r.EventsSent
		total.EventsAcked += r.EventsAcked
		return r
	}
	objects := func(outcome string) float64 {
		if outcome == "" {
			return c.Metric(t, "otelcol_s3decision_objects")
		}
		return c.Metric(t, "otelcol_s3decision_objects", `outcome="`+outcome+`"`)
	}
	notShipped := func() float64 {
		return objects("failed") + objects("dropped_breaker_open") + objects("dropped_buffer_full")
	}
	settle := func(atLeast float64) { // every decision so far shipped or counted as not shipped, the buffer drained
		last := -1.0
		require.Eventually(t, func() bool {
			n := objects("")
			settled := n >= atLeast && n == last
			last = n
			return settled
		}, time.Minute, time.Second)
	}

	run("warm-up (not compared)") // the first run after start pays for cold caches and a new table
	up1 := run("S3 up")
	settle(float64(total.EventsAcked))
	shippedUp := objects("shipped")
	require.Positive(t, shippedUp)

	s3.Stop()
	shipped0, lost0 := objects("shipped"), notShipped()
	down1, down2 := run("S3 down"), run("S3 down")
	settle(float64(total.EventsAcked))
	shipped := objects("shipped") - shipped0
	lost := notShipped() - lost0
	assert.Zero(t, shipped, "nothing shipped while S3 was down")
	assert.GreaterOrEqual(t, lost, float64(down1.EventsAcked+down2.EventsAcked), "every decision of the S3-down runs counted as not shipped")

	require.NoError(t, s3.Resume())
	// The breaker opened while S3 was down; a run while it is still open would drop the decisions (less work), so
	// the second up run starts once a decision shipped again.
	probe := append(slices.Clone(flags[:4]), "--duration", "5s", "--max-events", "110")
	require.Eventually(t, func() bool {
		before := objects("shipped")
		r := Load(t, c, lic, "http", probe...)()
		total.EventsSent += r.EventsSent
		total.EventsAcked += r.EventsAcked
		time.Sleep(500 * time.Millisecond)
		return objects("shipped") > before
	}, 2*time.Minute, time.Second, "decisions ship again once S3 is back")
	up2 := run("S3 up again")
	stored := requireClean(t, c, total)
	upRate := median([]float64{up1.EventsPerSec, up2.EventsPerSec})
	downRate := median([]float64{down1.EventsPerSec, down2.EventsPerSec})
	t.Logf("FAULT s3 down for whole runs, alternating up, down, down, up: up %s; down %s; down %s; up %s; Postgres rate "+
		"with S3 down / up = %.2f (medians: %.0f / %.0f events/s); stored %d of %d acknowledged (exactly once); decisions "+
		"shipped with S3 up (warm-up and first up run) %.0f, while down %.0f; not shipped while down (counted) %.0f; govctl verify OK",
		up1, down1, down2, up2, downRate/upRate, downRate, upRate, stored, total.EventsAcked, shippedUp, shipped, lost)
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// govcol killed with SIGKILL under load with the persistent (file_storage) sending queue, then restarted: no
// acknowledged event is lost, none is stored twice; the killed run's chain ends in an uncovered tail (the records
// after its last checkpoint), reported as such and nothing else.
func TestFaultSIGKILLWithPersistentQueue(t *testing.T) {
	c, lic := StartFaultCollector(t, FaultOptions{PersistentQueue: true})
	d := scaled(12*time.Second, 40*time.Second)
	acked := filepath.Join(t.TempDir(), "acked")
	wait := Load(t, c, lic, "http", "--rate", "1650", "--developers", "5", "--batch", "5", "--retry",
		"--duration", secs(d), "--max-events", "10000000", "--acked-file", acked)
	time.Sleep(d / 3)
	before, _ := Stored(t, c.PostgresDSN, "tenant-fault")
	c.Kill()
	killedAt := time.Now()
	c.Restart(t)
	restarted := time.Since(killedAt)
	r := wait()
	assert.Zero(t, r.FailedPermanent, r.FirstError)
	assert.Equal(t, r.EventsSent, r.EventsAcked, "with retries every event is acknowledged in the end: %s", r.FirstError)
	assert.Positive(t, r.FailedTransport+r.RefusedRetry+r.Retries, "the kill was seen by the client")

	rows := requireStoredOnce(t, c, r.EventsAcked)
	requireAckedSessionsStored(t, c, acked, r.EventsAcked)

	// Verification: the restarted collector's chain verifies once signed; the killed one may only have an
	// uncovered tail.
	var rep integrity.Report
	var bad []integrity.ChainReport
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		rep = c.VerifyReport(t)
		bad = bad[:0]
		for _, ch := range rep.Chains {
			if !ch.OK() {
				bad = append(bad, ch)
			}
		}
		if len(bad) <= 1 {
			break
		}
		require.False(t, time.Now().After(deadline), "more than the killed chain fails: %+v", bad)
	}
	tail := "none"
	for _, ch := range bad {
		for _, f := range ch.Failures {
			assert.Equal(t, integrity.KindUncoveredTail, f.Kind, "%+v", f)
			tail = f.Detail
		}
	}
	t.Logf("FAULT SIGKILL under load (persistent queue), restarted in %.1fs: %s; %d stored before the kill; stored %d "+
		"(exactly once), 0 acknowledged lost; govctl verify: %d chains, the killed run's tail: %s",
		restarted.Seconds(), r, before, rows, len(rep.Chains), tail)
}

// memory_limiter under 3x the sustained throughput: refusals are retryable (the client retries them), the
// collector's memory stays bounded, and it recovers. Every acknowledged event is stored once; events whose
// acknowledgement the client stopped waiting for (at the end of the run) may be stored too (at least once, never twice).
func TestFaultMemoryLimiterOverload(t *testing.T) {
	const limitMiB = 160
	c, lic := StartFaultCollector(t, FaultOptions{MemoryLimitMiB: limitMiB, QueueSize: 100_000})
	calib := Load(t, c, lic, "http", "--developers", "5", "--concurrency", "4", "--batch", "5",
		"--duration", "4s", "--max-events", "10000000")()
	require.Equal(t, calib.EventsSent, calib.EventsAcked, calib.FirstError)
	rate := 3 * calib.EventsPerSec
	d := scaled(10*time.Second, 30*time.Second)
	acked := filepath.Join(t.TempDir(), "acked")
	r := Load(t, c, lic, "http", "--rate", strconv.FormatFloat(rate, 'f', 0, 64), "--developers", "5", "--batch", "10",
		"--max-in-flight", "256", "--retry", "--duration", secs(d), "--max-events", "10000000", "--acked-file", acked)()
	overloadEnd := time.Now()
	assert.Zero(t, r.FailedPermanent, r.FirstError)
	assert.Positive(t, r.RefusedRetry, "3x overload is refused (retryably) by memory_limiter: %s", r)
	refused := c.Metric(t, "otelcol_processor_refused_log_records") + c.Metric(t, "otelcol_receiver_refused_log_records")
	assert.Positive(t, refused)

	// Recovery: a client retrying gets its request acknowledged once the backlog is drained.
	after := Load(t, c, lic, "http", "--developers", "1", "--concurrency", "1", "--batch", "1", "--retry",
		"--duration", "60s", "--max-events", "11")()
	require.EqualValues(t, 11, after.EventsAcked, "recovered within a minute: %s", after.FirstError)
	recovery := time.Since(overloadEnd)
	peak := c.PeakRSSMiB(t)

	sent := calib.EventsSent + r.EventsSent + after.EventsSent
	ackedAll := calib.EventsAcked + r.EventsAcked + after.EventsAcked
	rows, distinct := awaitStored(t, c, ackedAll)
	requireAckedSessionsStored(t, c, acked, r.EventsAcked)
	assert.Equal(t, rows, distinct, "no duplicates")
	assert.LessOrEqual(t, rows, sent)
	c.VerifyTrail(t)
	// memory_limiter bounds the heap data is admitted at; the requests being read and decoded (at most 256 here)
	// and the runtime come on top, hence the headroom.
	assert.Less(t, peak, float64(limitMiB)*2, "peak RSS bounded (limit %d MiB)", limitMiB)
	t.Logf("FAULT memory_limiter (limit %d MiB, GOMEMLIMIT the same) at 3x the sustained %.0f events/s (%.0f offered, 256 requests in flight at most): %s; "+
		"refused log records (collector count) %.0f; peak RSS %.0f MiB; recovered: a retrying request acknowledged %.1fs after the "+
		"overload; stored %d: all %d acknowledged (exactly once) + %d unacknowledged-but-received, of %d sent; govctl verify OK",
		limitMiB, calib.EventsPerSec, rate, r, refused, peak, recovery.Seconds(), rows, ackedAll, rows-ackedAll, sent)
}
