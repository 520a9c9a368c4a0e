package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgtest"
)

// BenchmarkVerifyPostgres stores 110,000 chained records (10,000 fixture batches through the real governance
// processor and Postgres exporter), then times `govctl verify`'s work: reading every chain and checkpoint from
// Postgres and verifying them. Reported as records per second.
// Run: go test -run x -bench VerifyPostgres -benchtime 1x ./cmd/govctl/
func BenchmarkVerifyPostgres(b *testing.B) {
	dsn := pgtest.NewDatabase(b)
	key, pub := signingKey(b)
	shifts := make([]int, 10_000)
	for i := range shifts {
		shifts[i] = i
	}
	collectorRun(b, dsn, key, filepath.Join(b.TempDir(), "fb.jsonl"), shifts)
	keys, err := license.LoadKeySet([]string{pub}, "")
	require.NoError(b, err)
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(b, err)
	defer conn.Close(context.Background())
	for b.Loop() {
		start := time.Now()
		rep, err := integrity.VerifyPostgres(context.Background(), conn, integrity.Source{Table: "audit_logs", CheckpointsTable: "audit_checkpoints"}, keys)
		require.NoError(b, err)
		require.True(b, rep.OK())
		require.Equal(b, 110_000, rep.Records())
		b.ReportMetric(float64(rep.Records())/time.Since(start).Seconds(), "records/s")
	}
}
