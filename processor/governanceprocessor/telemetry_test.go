package governanceprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadatatest"
)

// TestOwnTelemetry drives the processor through its factory, as the collector does, and checks its counters.
func TestOwnTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	cfg.Policies = []PolicyConfig{{ID: "bad_types", When: `ParseJSON(attributes["tool_parameters"])["full_command"] == "rm"`, Verdict: "blocked"}}
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })

	require.Error(t, p.ConsumeLogs(context.Background(), fixtureLogs(t)), "no client info: refused")
	require.NoError(t, p.ConsumeLogs(authCtx(license(), claudeHeaders()), fixtureLogs(t)))
	require.Equal(t, fixtureLogs(t).LogRecordCount(), sink.LogRecordCount())

	opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
	metadatatest.AssertEqualGovernanceBatchesRefused(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("signal", "logs"), attribute.String("reason", "unauthenticated"))},
	}, opts...)
	metadatatest.AssertEqualGovernanceRecordsProcessed(t, tt, []metricdata.DataPoint[int64]{
		{Value: 9, Attributes: attribute.NewSet(attribute.String("verdict", "allowed"), attribute.String("origin", "claude-code"))},
		{Value: 2, Attributes: attribute.NewSet(attribute.String("verdict", "redacted"), attribute.String("origin", "claude-code"))},
	}, opts...)
	// prompt and prompt_text carry ssn and credit_card; the response carries an email.
	metadatatest.AssertEqualGovernancePiiDetections(t, tt, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("signal", "logs"), attribute.String("pii_type", "ssn"))},
		{Value: 2, Attributes: attribute.NewSet(attribute.String("signal", "logs"), attribute.String("pii_type", "credit_card"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("signal", "logs"), attribute.String("pii_type", "email"))},
	}, opts...)
	// ParseJSON fails on every record without tool_parameters (all but tool_decision and tool_result).
	metadatatest.AssertEqualGovernancePolicyEvaluationErrors(t, tt, []metricdata.DataPoint[int64]{
		{Value: 9, Attributes: attribute.NewSet(attribute.String("policy", "bad_types"))},
	}, opts...)

	// Detection that cannot finish in time withholds every scanned value: here the prompt, the body and the
	// resource's service.name (an allow-listed value passes unmasked only once the engine has found nothing in it).
	cfg2 := *cfg
	cfg2.PII.Timeout = time.Nanosecond
	cfg2.Policies = nil
	p2, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), &cfg2, sink)
	require.NoError(t, err)
	require.NoError(t, p2.ConsumeLogs(authCtx(license(), nil), logOf("claude-code", "x", map[string]any{"prompt": string(make([]byte, 200000))})))
	metadatatest.AssertEqualGovernanceValuesWithheld(t, tt, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("signal", "logs"))},
	}, opts...)

	// A value withheld on the resource counts once, beside the record's own: service.name, host.name, prompt and
	// body.
	ld := logOf("claude-code", "x", map[string]any{"prompt": "hello"})
	ld.ResourceLogs().At(0).Resource().Attributes().PutStr("host.name", "dev-laptop")
	require.NoError(t, p2.ConsumeLogs(authCtx(license(), nil), ld))
	metadatatest.AssertEqualGovernanceValuesWithheld(t, tt, []metricdata.DataPoint[int64]{
		{Value: 7, Attributes: attribute.NewSet(attribute.String("signal", "logs"))},
	}, opts...)
}
