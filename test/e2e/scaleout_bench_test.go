package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkScaleOutGateways measures the sustained throughput of one gateway directly, through nginx in front of it,
// and through nginx in front of three (startFleet: each gateway a full govcol with signed chains, persistent queue
// and decision files; one Postgres database each fleet, in the same cluster), on this machine, in one run: the sides
// alternate (direct, 1, 3, 3, 1, direct, ...) so that drift in the machine's load falls on all of them, and each
// side's figure is the median of its runs. Closed loop:
// `govctl load` with --concurrency workers of --batch 10 session copies (110 events a request), 5 developers.
// GOVCOL_SCALEOUT_ROUNDS (default 2) rounds, GOVCOL_SCALEOUT_RUN (default 8s) per run. Every acknowledged
// event is checked stored exactly once at the end. `make bench-history` runs it (scripts/bench-scaling.sh) and writes the
// figures into docs/SCALING.md.
func BenchmarkScaleOutGateways(b *testing.B) {
	sideName := map[int]string{0: "1 gateway direct", 1: "1 gateway behind nginx", 3: "3 gateways behind nginx"}
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv("GOVCOL_SCALEOUT_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	run := 8 * time.Second
	if v, err := time.ParseDuration(os.Getenv("GOVCOL_SCALEOUT_RUN")); err == nil && v > 0 {
		run = v
	}
	const concurrency = 8
	fleets := map[int]*fleet{1: startFleet(b, 1), 3: startFleet(b, 3)}
	// side 0 is the one gateway without the balancer; 1 and 3 are the fleets through nginx.
	target := func(side int) *Collector {
		if side == 0 {
			return fleets[1].gateways[0]
		}
		return fleets[side].front
	}
	fleetOf := func(side int) int { return max(side, 1) }
	load := func(side int, d time.Duration) LoadResult {
		r := Load(b, target(side), fleets[fleetOf(side)].lic, "http", "--developers", "5", "--concurrency", strconv.Itoa(concurrency), "--batch", "10",
			"--duration", secs(d), "--max-events", "100000000")()
		require.Empty(b, r.FirstError)
		require.Equal(b, r.EventsSent, r.EventsAcked)
		return r
	}
	acked := map[int]int64{}
	for n := range fleets { // warm-up, not counted in the figures (but stored and checked)
		acked[n] += load(n, 2*time.Second).EventsAcked
	}
	results := map[int][]LoadResult{}
	for b.Loop() {
		for range rounds {
			for _, side := range []int{0, 1, 3, 3, 1, 0} {
				r := load(side, run)
				acked[fleetOf(side)] += r.EventsAcked
				results[side] = append(results[side], r)
			}
		}
	}
	b.StopTimer()
	for n, f := range fleets {
		var rows, distinct int64
		require.Eventually(b, func() bool {
			rows, distinct = Stored(b, f.front.PostgresDSN, "tenant-fault")
			return rows >= acked[n]
		}, 2*time.Minute, 500*time.Millisecond)
		require.Equal(b, acked[n], rows, "%d gateway(s): stored = acknowledged", n)
		require.Equal(b, rows, distinct, "no duplicates")
	}
	median := func(rs []LoadResult, v func(LoadResult) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = v(r)
		}
		sort.Float64s(xs)
		if len(xs)%2 == 1 {
			return xs[len(xs)/2]
		}
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	rate := func(r LoadResult) float64 { return r.EventsPerSec }
	p50 := func(r LoadResult) float64 { return r.P50 }
	p99 := func(r LoadResult) float64 { return r.P99 }
	direct, one, three := median(results[0], rate), median(results[1], rate), median(results[3], rate)
	b.ReportMetric(direct, "events/s_direct")
	b.ReportMetric(one, "events/s_1gw")
	b.ReportMetric(three, "events/s_3gw")
	b.ReportMetric(three/one, "ratio_3gw/1gw")
	var parts []string
	for _, side := range []int{0, 1, 3} {
		var runs []string
		for _, r := range results[side] {
			runs = append(runs, fmt.Sprintf("%.0f", r.EventsPerSec))
		}
		parts = append(parts, fmt.Sprintf("%s %.0f events/s (runs %v, ack latency p50 %.0f ms, p99 %.0f ms)", sideName[side],
			median(results[side], rate), runs, median(results[side], p50), median(results[side], p99)))
	}
	b.Logf("SCALEOUT throughput, closed loop of %d requests of 110 events, %d runs of %s per side (alternated direct, "+
		"1, 3, 3, 1, direct): %s; through nginx 1 / direct = %.2f, 3 / 1 = %.2f; stored = acknowledged, exactly once "+
		"(%d and %d events)", concurrency, 2*rounds, run, strings.Join(parts, "; "), one/direct, three/one, acked[1], acked[3])
}
