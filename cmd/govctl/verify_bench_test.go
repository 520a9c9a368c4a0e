package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/store"
)

// verifyTrail stores 220,000 chained records in 4 chains (4 collector runs of 5,000 fixture batches each, sent 50
// batches per request, through the real governance processor and Postgres exporter) and returns the DSN and the
// public key file.
func verifyTrail(b *testing.B) (string, string) {
	dsn := pgtest.NewDatabase(b)
	key, pub := signingKey(b)
	for run := range 4 {
		var batches [][]int
		for i := 0; i < 5_000; i += 50 {
			batch := make([]int, 50)
			for j := range batch {
				batch[j] = run*5_000 + i + j
			}
			batches = append(batches, batch)
		}
		collectorRunBatches(b, dsn, key, filepath.Join(b.TempDir(), "fb.jsonl"), batches)
	}
	return dsn, pub
}

// BenchmarkVerifyPostgres times `govctl verify`'s work in process over the 220,000-record trail: planning, streaming
// every chain from Postgres (parallel chains, binary rows) and verifying it. Reported as records per second.
// Run: go test -run x -bench 'VerifyPostgres$' -benchtime 1x ./cmd/govctl/
func BenchmarkVerifyPostgres(b *testing.B) {
	dsn, pub := verifyTrail(b)
	keys, err := license.LoadKeySet([]string{pub}, "")
	require.NoError(b, err)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(b, err)
	defer pool.Close()
	for b.Loop() {
		start := time.Now()
		rep, err := store.VerifyPostgres(context.Background(), pool, store.Source{Table: "audit_logs", CheckpointsTable: "audit_checkpoints"}, keys)
		require.NoError(b, err)
		require.True(b, rep.OK())
		require.Equal(b, 220_000, rep.Records())
		b.ReportMetric(float64(rep.Records())/time.Since(start).Seconds(), "records/s")
	}
}

// BenchmarkVerifyCommands runs two builds of `govctl verify` as commands over one 220,000-record trail, alternately,
// three times each: GOVCTL_BASELINE (e.g. built from 994d622) and GOVCTL_NEW (this tree's). Each figure is
// 220,000 records over the command's wall time (process start, connection and all). Reported: the best of each and
// their ratio; every run is logged.
// Run: go build -o /tmp/govctl-new ./cmd/govctl && GOVCTL_BASELINE=/tmp/govctl-base GOVCTL_NEW=/tmp/govctl-new \
// go test -run x -bench VerifyCommands -benchtime 1x -v ./cmd/govctl/
func BenchmarkVerifyCommands(b *testing.B) {
	base, next := os.Getenv("GOVCTL_BASELINE"), os.Getenv("GOVCTL_NEW")
	require.NotEmpty(b, base, "GOVCTL_BASELINE: the baseline govctl binary")
	require.NotEmpty(b, next, "GOVCTL_NEW: the govctl binary to measure")
	dsn, pub := verifyTrail(b)
	checked := regexp.MustCompile(`(\d+) chains, (\d+) records checked`)
	run := func(bin string) float64 {
		start := time.Now()
		out, err := exec.Command(bin, "verify", "--dsn", dsn, "--key", pub).CombinedOutput()
		elapsed := time.Since(start)
		require.NoError(b, err, "%s", out)
		m := checked.FindSubmatch(out)
		require.NotNil(b, m, "%s", out)
		n, _ := strconv.Atoi(string(m[2]))
		require.Equal(b, 220_000, n)
		return float64(n) / elapsed.Seconds()
	}
	for b.Loop() {
		var bestBase, bestNew float64
		for i := range 3 {
			rb := run(base)
			rn := run(next)
			b.Logf("round %d: baseline %.0f records/s, new %.0f records/s", i+1, rb, rn)
			bestBase, bestNew = max(bestBase, rb), max(bestNew, rn)
		}
		b.ReportMetric(bestBase, "baseline-records/s")
		b.ReportMetric(bestNew, "new-records/s")
		b.ReportMetric(bestNew/bestBase, "ratio")
	}
}
