package governanceprocessor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	lic "github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadatatest"
)

// Checkpoints handed down the pipeline are counted by outcome: sent when the next component took them, failed when
// it returned an error (the alert on failing checkpoints and on chains left unsigned reads this counter).
func TestCheckpointTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	_, err := lic.WriteKeyPair(keyFile, filepath.Join(dir, "audit.pub.pem"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	cfg.Integrity.SigningKeyFile = keyFile
	cfg.Integrity.CheckpointRecords = 1000
	cfg.Integrity.CheckpointInterval = time.Minute // only the checkpoint at shutdown
	ctx := authCtx(license(), claudeHeaders())
	opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
	run := func(refuseAtShutdown bool) {
		sink := &refusingSink{}
		p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
		require.NoError(t, err)
		require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, p.ConsumeLogs(ctx, fixtureLogs(t)))
		sink.refuse.Store(refuseAtShutdown)
		require.NoError(t, p.Shutdown(context.Background()))
	}

	run(false)
	metadatatest.AssertEqualGovernanceCheckpoints(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "sent"))},
	}, opts...)
	run(true) // the next component refuses the checkpoint
	metadatatest.AssertEqualGovernanceCheckpoints(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "sent"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "failed"))},
	}, opts...)
}
