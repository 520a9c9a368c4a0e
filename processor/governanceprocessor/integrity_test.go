package governanceprocessor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	lic "github.com/govcol/govcol/internal/license"
)

// Through the factory (as in a pipeline): records are chained per tenant, checkpoints are appended every
// checkpoint_records, sent on their own after checkpoint_interval, and for every chain at shutdown; all verify.
func TestIntegrityThroughThePipeline(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	pub, err := lic.WriteKeyPair(keyFile, filepath.Join(dir, "audit.pub.pem"))
	require.NoError(t, err)
	keys := lic.KeySet{}
	require.NoError(t, keys.Add(lic.KeyID(pub), pub))

	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	cfg.Integrity.SigningKeyFile = keyFile
	cfg.Integrity.CheckpointRecords = 10
	cfg.Integrity.CheckpointInterval = 200 * time.Millisecond
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(NewFactory().Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))

	ctx := authCtx(license(), claudeHeaders())
	for range 2 { // 22 records: checkpoints at 10 and 20 in the batches
		require.NoError(t, p.ConsumeLogs(ctx, fixtureLogs(t)))
	}
	// After the interval the uncovered tail (21, 22) is signed on its own.
	require.Eventually(t, func() bool { return len(checkpointsIn(t, sink)) == 3 }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, p.ConsumeLogs(ctx, fixtureLogs(t)))
	require.NoError(t, p.Shutdown(context.Background()))

	cps := checkpointsIn(t, sink)
	var seqs []int64
	for _, cp := range cps {
		require.NoError(t, cp.VerifySignature(keys))
		assert.Equal(t, "tenant-a", cp.TenantID)
		seqs = append(seqs, cp.LastSeq)
	}
	assert.Equal(t, []int64{10, 20, 22, 32, 33}, seqs, "every 10 (counted from the last checkpoint), the interval, then shutdown")

	var entries []integrity.Entry
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
				if integrity.IsCheckpoint(lr) {
					continue
				}
				r, err := audit.FromLogRecord(rl.Resource(), lr)
				require.NoError(t, err)
				assert.Zero(t, r.Timestamp.Nanosecond()%1000, "microsecond precision")
				entries = append(entries, integrity.Entry{Record: r, JSON: audit.StoredJSON{
					PolicyDetails: r.PolicyDetailsJSON(), Obligations: r.ObligationsJSON(),
					ComplianceFlags: r.ComplianceFlagsJSON(), SecurityMetrics: r.SecurityMetricsJSON(), Metadata: r.MetadataJSON()}})
			}
		}
	}
	require.Len(t, entries, 33)
	rep := integrity.VerifyChain(entries, cps, keys)
	assert.True(t, rep.OK(), "%+v", rep.Failures)
	assert.EqualValues(t, 33, rep.CoveredTo)
}

func checkpointsIn(t *testing.T, sink *consumertest.LogsSink) []integrity.Checkpoint {
	var out []integrity.Checkpoint
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if integrity.IsCheckpoint(lr) {
						cp, err := integrity.CheckpointFromLogRecord(lr)
						require.NoError(t, err)
						out = append(out, cp)
					}
				}
			}
		}
	}
	return out
}
