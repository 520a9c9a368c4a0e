package governanceprocessor

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadatatest"
)

// Oversized records are dropped and counted, the rest of the batch is governed; strings Postgres cannot store
// (invalid UTF-8, NUL) are made storable before hashing and masking.
func TestRecordLimitsAndSanitising(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer p.Shutdown(context.Background())

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	wide := lrs.AppendEmpty()
	wide.Body().SetStr("wide")
	for i := range 2000 {
		wide.Attributes().PutStr("k"+strconv.Itoa(i), "v")
	}
	deep := lrs.AppendEmpty()
	m := deep.Attributes().PutEmptyMap("nest")
	for range 20 {
		m = m.PutEmptyMap("n")
	}
	ok := lrs.AppendEmpty()
	ok.Body().SetStr("bad \xff\xfe bytes and a \x00 NUL")
	ok.Attributes().PutStr("event.name", "user_prompt")
	ok.Attributes().PutStr("key\xffodd", "value\x00")

	require.NoError(t, p.ConsumeLogs(authCtx(license(), claudeHeaders()), ld))
	out := sink.AllLogs()[0]
	require.Equal(t, 1, out.LogRecordCount(), "the two oversized records are dropped, the third is kept")
	got := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "bad \uFFFD bytes and a \uFFFD NUL", got.Body().Str())
	v, found := got.Attributes().Get("key\uFFFDodd")
	require.True(t, found)
	assert.Equal(t, "value\uFFFD", v.Str())
	r, err := audit.FromLogRecord(out.ResourceLogs().At(0).Resource(), got)
	require.NoError(t, err)
	assert.Equal(t, "tenant-a", r.TenantID)

	metadatatest.AssertEqualGovernanceRecordsDropped(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", dropTooManyAttributes))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", dropTooDeep))},
	}, metricdatatest.IgnoreTimestamp())
}
