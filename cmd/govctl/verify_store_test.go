package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/exporter/s3decisionexporter"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/internal/s3test"
)

// storeTrail runs two collectors (two chains: 33 and 11 records) with the real Postgres and s3decision exporters
// and returns the newest chain (the second run's).
func storeTrail(t *testing.T, dsn, key string, store *s3decisionexporter.Config) string {
	t.Helper()
	collectorPipeline(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), [][]int{{0}, {1}, {2}}, store)
	collectorPipeline(t, dsn, key, filepath.Join(t.TempDir(), "fb.jsonl"), [][]int{{3}}, store)
	var newest string
	for _, id := range strings.Fields(queryStrings(t, dsn, "SELECT chain_id FROM audit_logs_chains WHERE kind = 'opened' ORDER BY signed_at DESC LIMIT 1")) {
		newest = id
	}
	require.NotEmpty(t, newest)
	return newest
}

func queryStrings(t *testing.T, dsn, q string) string {
	t.Helper()
	var out []string
	c := pgtestConn(t, dsn)
	rows, err := c.Query(context.Background(), q)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return strings.Join(out, " ")
}

// removeChainAsSuperuser deletes a whole chain, its registry entries and its checkpoints from Postgres as a
// superuser (triggers off for the session): nothing left in Postgres names it.
func removeChainAsSuperuser(t *testing.T, dsn, chain string) {
	t.Helper()
	c := pgtestConn(t, dsn)
	var super bool
	require.NoError(t, c.QueryRow(context.Background(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super))
	require.True(t, super)
	for _, q := range []string{"SET session_replication_role = replica",
		"DELETE FROM audit_logs WHERE chain_id = $1", "DELETE FROM audit_checkpoints WHERE chain_id = $1",
		"DELETE FROM audit_logs_chains WHERE chain_id = $1"} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, chain)
		}
		_, err := c.Exec(context.Background(), q, args...)
		require.NoError(t, err, q)
	}
}

func verifyWith(t *testing.T, o verifyOptions) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o.table, o.checkpoints = "audit_logs", "audit_checkpoints"
	err := runVerify(context.Background(), &out, o, time.Now())
	return out.String(), err
}

// The newest chain removed whole (records, checkpoints, registry entry) leaves no trace in Postgres; the checkpoint
// objects in the decision store (here a real S3 server) name it.
func TestVerifyCrossChecksS3CheckpointObjects(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "decisions", false)
	cfg := s3decisionexporter.NewFactory().CreateDefaultConfig().(*s3decisionexporter.Config)
	cfg.Bucket, cfg.Endpoint, cfg.Region, cfg.S3ForcePathStyle, cfg.Prefix = "decisions", srv.Endpoint, s3test.Region, true, "govcol"
	dsn := pgtest.NewDatabase(t)
	key, pub := signingKey(t)
	newest := storeTrail(t, dsn, key, cfg)
	o := verifyOptions{dsn: dsn, keys: []string{pub}, storeBucket: "decisions", storeEndpoint: srv.Endpoint,
		storeRegion: s3test.Region, storePathStyle: true, storePrefix: "govcol"}

	out, err := verifyWith(t, o)
	require.NoError(t, err, out)
	assert.Equal(t, 2, strings.Count(out, ": OK"), out)
	assert.NotContains(t, out, "warning", out)

	removeChainAsSuperuser(t, dsn, newest)
	out, err = verifyWith(t, verifyOptions{dsn: dsn, keys: []string{pub}})
	require.NoError(t, err, "without the store, the removal goes unnoticed: %s", out)
	out, err = verifyWith(t, o)
	require.ErrorIs(t, err, errVerifyFailed, out)
	assert.Contains(t, out, "chain "+newest+" (tenant tenant-a)", out)
	assert.Contains(t, out, "FAILED: deleted at seq 11: checkpoint object govcol/checkpoints/"+url.PathEscape(newest)+"/00000000000000000011.json", out)
}

// The local_dir form: a clean trail passes; a removed chain fails naming it; a forged checkpoint object fails its
// signature; a chain the store has no object of is a warning only.
func TestVerifyCrossChecksLocalDirCheckpointObjects(t *testing.T) {
	dir := t.TempDir()
	cfg := s3decisionexporter.NewFactory().CreateDefaultConfig().(*s3decisionexporter.Config)
	cfg.LocalDir = dir
	dsn := pgtest.NewDatabase(t)
	key, pub := signingKey(t)
	newest := storeTrail(t, dsn, key, cfg)
	o := verifyOptions{dsn: dsn, keys: []string{pub}, storeLocalDir: dir, storePrefix: cfg.Prefix} // the default prefix
	out, err := verifyWith(t, o)
	require.NoError(t, err, out)
	assert.Equal(t, 2, strings.Count(out, ": OK"), out)
	assert.NotContains(t, out, "warning", out)

	oldest := chainOf(t, dsn)
	objects := filepath.Join(dir, filepath.FromSlash(cfg.Prefix), "checkpoints", url.PathEscape(oldest))
	files, err := filepath.Glob(filepath.Join(objects, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	newestObject := files[len(files)-1]
	require.Equal(t, "00000000000000000033.json", filepath.Base(newestObject))

	t.Run("forged object", func(t *testing.T) {
		body, err := os.ReadFile(newestObject)
		require.NoError(t, err)
		var cp integrity.Checkpoint
		require.NoError(t, json.Unmarshal(body, &cp))
		cp.LastHash = "v1:" + strings.Repeat("0", 64)
		forged, err := json.Marshal(cp)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(newestObject, forged, 0o600))
		defer func() { require.NoError(t, os.WriteFile(newestObject, body, 0o600)) }()
		out, err := verifyWith(t, o)
		require.ErrorIs(t, err, errVerifyFailed, out)
		assert.Contains(t, out, "FAILED: bad_signature at seq 33: checkpoint object "+cfg.Prefix+"/checkpoints/"+url.PathEscape(oldest)+"/00000000000000000033.json", out)
	})

	t.Run("chain missing from the store", func(t *testing.T) {
		moved := filepath.Join(t.TempDir(), "moved")
		require.NoError(t, os.Rename(objects, moved))
		defer func() { require.NoError(t, os.Rename(moved, objects)) }()
		out, err := verifyWith(t, o)
		require.NoError(t, err, "a chain absent from the fail-open store is a warning: %s", out)
		assert.Contains(t, out, "chain "+oldest+" (tenant tenant-a)", out)
		assert.Contains(t, out, "  warning: no checkpoint object in the decision store", out)
	})

	t.Run("newest chain removed whole", func(t *testing.T) {
		removeChainAsSuperuser(t, dsn, newest)
		out, err := verifyWith(t, o)
		require.ErrorIs(t, err, errVerifyFailed, out)
		assert.Contains(t, out, "chain "+newest+" (tenant tenant-a): 0 records", out)
		assert.Contains(t, out, "FAILED: deleted at seq 11: checkpoint object "+cfg.Prefix+"/checkpoints/"+url.PathEscape(newest)+"/", out)
		assert.Contains(t, out, "chain "+oldest+" (tenant tenant-a): 33 records", out)
	})
}

func pgtestConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}
