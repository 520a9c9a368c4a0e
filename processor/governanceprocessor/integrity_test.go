package governanceprocessor

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	lic "github.com/govcol/govcol/internal/license"
)

// Through the factory (as in a pipeline): records are chained per tenant; a checkpoint follows a batch whose delivery
// brought checkpoint_records new records, is sent after checkpoint_interval, and for every chain at shutdown; a
// batch whose delivery failed is withdrawn by the next checkpoint; the stored trail verifies.
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
	cfg.Integrity.CheckpointRecords = 20
	cfg.Integrity.CheckpointInterval = 200 * time.Millisecond
	require.NoError(t, cfg.Validate())
	sink := &refusingSink{}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(NewFactory().Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))

	ctx := authCtx(license(), claudeHeaders())
	for range 2 { // 22 records delivered: a checkpoint at 22 after the second batch
		require.NoError(t, p.ConsumeLogs(ctx, fixtureLogs(t)))
	}
	require.Len(t, checkpointsIn(t, &sink.LogsSink), 1)
	sink.refuse.Store(true) // 23..33 refused downstream: the client is told, the records are never stored
	require.Error(t, p.ConsumeLogs(ctx, fixtureLogs(t)))
	sink.refuse.Store(false)
	require.NoError(t, p.ConsumeLogs(ctx, fixtureLogs(t))) // 34..44
	// After the interval the records since the last checkpoint are signed on their own, withdrawing 23..33.
	require.Eventually(t, func() bool { return len(checkpointsIn(t, &sink.LogsSink)) == 2 }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, p.ConsumeLogs(ctx, fixtureLogs(t)))
	require.NoError(t, p.Shutdown(context.Background()))

	cps := checkpointsIn(t, &sink.LogsSink)
	var seqs []int64
	var withdrawn []string
	for _, cp := range cps {
		require.NoError(t, cp.VerifySignature(keys))
		assert.Equal(t, "tenant-a", cp.TenantID)
		seqs = append(seqs, cp.LastSeq)
		withdrawn = append(withdrawn, cp.Withdrawn.String())
	}
	assert.Equal(t, []int64{22, 44, 55}, seqs, "by count, the interval, then shutdown")
	assert.Equal(t, []string{"", "23-33", ""}, withdrawn)

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
	require.Len(t, entries, 44)
	rep := integrity.VerifyChain(entries, cps, keys)
	assert.True(t, rep.OK(), "%+v", rep.Failures)
	assert.EqualValues(t, 55, rep.CoveredTo)
	assert.EqualValues(t, 11, rep.Withdrawn)
}

// refusingSink stores what it is given, or refuses it (as a full exporter queue would) while refuse is set.
type refusingSink struct {
	consumertest.LogsSink
	refuse atomic.Bool
}

func (s *refusingSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if s.refuse.Load() {
		return errors.New("sending queue is full")
	}
	return s.LogsSink.ConsumeLogs(ctx, ld)
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

// blockingCheckpointSink takes records at once and holds a checkpoint handover until its context ends.
type blockingCheckpointSink struct {
	consumertest.LogsSink
	cut atomic.Int64 // checkpoint handovers ended by their context
}

func (s *blockingCheckpointSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	if !integrity.IsCheckpoint(lr) {
		return s.LogsSink.ConsumeLogs(ctx, ld)
	}
	<-ctx.Done()
	s.cut.Add(1)
	return ctx.Err()
}

// The final checkpoints are handed over within the shutdown's context: a shutdown whose context has ended does not
// wait on a next component that never returns (it used to send them with context.Background()).
func TestShutdownCheckpointsFollowTheShutdownContext(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	_, err := lic.WriteKeyPair(keyFile, filepath.Join(dir, "audit.pub.pem"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	cfg.Integrity.SigningKeyFile = keyFile
	cfg.Integrity.CheckpointInterval = time.Minute // only the shutdown emits one
	cfg.Integrity.CheckpointTimeout = 10 * time.Minute
	sink := &blockingCheckpointSink{}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(NewFactory().Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeLogs(authCtx(license(), claudeHeaders()), fixtureLogs(t)))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, p.Shutdown(ctx))
	assert.EqualValues(t, 1, sink.cut.Load(), "the final checkpoint's handover ended with the shutdown's context")
	assert.Equal(t, 11, sink.LogRecordCount())
}

// The chain's record_hash (computed while the record is stamped) is what an exporter recomputes from the stamped
// record (FromLogRecord, then ComputeHash) for hostile payloads too: unicode and escapes in keys and values,
// invalid UTF-8, huge values, nested maps and lists, spoofed audit.* attributes, content keys; each record links to
// the one before it.
func TestChainedHashMatchesExportersOnHostileInput(t *testing.T) {
	ld := fixtureLogs(t)
	big := strings.Repeat("ü<&>\"\\\u2028 ", 20000)
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		ra := rl.Resource().Attributes()
		ra.PutStr("host.name", "hôte \xff")
		ra.PutEmptyMap("nested").PutStr("k\u2029", "v\x00")
		for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
			a := lr.Attributes()
			a.PutStr("ключ😀", "значение \x01\x1f <b>&amp;</b>")
			a.PutStr("bad", "a\xffb\xc3(c\xed\xa0\x80d")
			a.PutStr("zz_big", big)
			a.PutDouble("ratio", 0.1+float64(i)/3)
			a.PutInt("count", int64(i)*-7)
			a.PutBool("flag", i%2 == 0)
			n := a.PutEmptyMap("nested")
			n.PutStr("b", "2")
			n.PutStr("a", "1 \\n")
			n.PutEmptyMap("deeper").PutEmptySlice("list").AppendEmpty().SetStr("x\"y")
			l := a.PutEmptySlice("list")
			l.AppendEmpty().SetDouble(1e21)
			l.AppendEmpty().SetStr("\u2028")
			a.PutStr("audit.cost", "spoofed")
			a.PutStr("audit.tenant_id", "tenant-evil")
			if i%3 == 0 {
				a.PutStr("prompt", big)
			}
			i++
		}
	}
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	_, recs := governed(t, tt, authCtx(license(), claudeHeaders()), ld)
	require.Len(t, recs, i)
	prev := ""
	for j, r := range recs {
		want, err := r.ComputeHash()
		require.NoError(t, err)
		require.Equal(t, want, r.RecordHash, "record %d", j)
		assert.Equal(t, prev, r.PrevHash, "record %d", j)
		assert.EqualValues(t, j+1, r.ChainSeq)
		assert.Equal(t, "tenant-a", r.TenantID)
		prev = r.RecordHash
	}
}
