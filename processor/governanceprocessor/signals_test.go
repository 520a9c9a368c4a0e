package governanceprocessor

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadatatest"
)

// Raw values a hostile or careless client puts in span and metric fields. None may appear in what the processor
// hands on, in any spelling the JSON encoding could give it.
const (
	sigSSN      = "123-45-6789"
	sigCard     = "4111 1111 1111 1111"
	sigCardFlat = "4111111111111111"
)

// sigNeedles are the substrings searched for in the marshalled output: every email below is <who>.secret@example.com.
var sigNeedles = []string{"secret@", sigSSN, sigCard, sigCardFlat}

// signalTraces builds the traces processor as the collector does (factory, processorhelper) with a sink behind it.
func signalTraces(t *testing.T) (func(ptrace.Traces) ptrace.Traces, *consumertest.TracesSink) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return func(td ptrace.Traces) ptrace.Traces {
		sink.Reset()
		require.NoError(t, p.ConsumeTraces(authCtx(license(), claudeHeaders()), td))
		require.Len(t, sink.AllTraces(), 1)
		return sink.AllTraces()[0]
	}, sink
}

func signalMetrics(t *testing.T) func(pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	sink := new(consumertest.MetricsSink)
	p, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return func(md pmetric.Metrics) pmetric.Metrics {
		sink.Reset()
		require.NoError(t, p.ConsumeMetrics(authCtx(license(), claudeHeaders()), md))
		require.Len(t, sink.AllMetrics(), 1)
		return sink.AllMetrics()[0]
	}
}

// assertNoSigRaw fails for every raw needle found in the marshalled output, naming the field it came from.
func assertNoSigRaw(t *testing.T, out []byte) {
	t.Helper()
	for _, n := range sigNeedles {
		for i := bytes.Index(out, []byte(n)); i >= 0; {
			lo, hi := max(0, i-80), min(len(out), i+len(n)+20)
			t.Errorf("raw %q in the output: …%s…", n, out[lo:hi])
			next := bytes.Index(out[i+1:], []byte(n))
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
}

// hostileSpans is one resource with two scopes: the first scope's name, version, attributes and schema URL carry
// PII and it holds a span whose every other string field does too, plus a clean span; the second scope is clean and
// holds one clean span.
func hostileSpans() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "claude-code")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("https://schemas.example/1.0?owner=schema.secret@example.com")
	ss.Scope().SetName("com.anthropic.claude_code.tracing scope.secret@example.com")
	ss.Scope().SetVersion(sigSSN)
	ss.Scope().Attributes().PutStr("owner", "scopeattr.secret@example.com")
	ss.Scope().Attributes().PutStr("card", sigCard)

	span := ss.Spans().AppendEmpty()
	span.SetName("claude_code.tool name.secret@example.com " + sigSSN + " " + sigCard)
	span.SetTraceID(pcommon.TraceID{1, 2, 3})
	span.SetSpanID(pcommon.SpanID{1})
	span.TraceState().FromRaw("vendor=tracestate.secret@example.com")
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage("tool failed for status.secret@example.com, SSN " + sigSSN + ", card " + sigCard)
	span.Attributes().PutStr("span.type", "tool")
	ev := span.Events().AppendEmpty()
	ev.SetName("contact event.secret@example.com " + sigCardFlat)
	ev.Attributes().PutStr("note", "eventattr.secret@example.com ssn "+sigSSN)
	ev.Attributes().PutStr("user.email", "eventclaim.secret@example.com")
	link := span.Links().AppendEmpty()
	link.SetTraceID(pcommon.TraceID{9})
	link.SetSpanID(pcommon.SpanID{9})
	link.TraceState().FromRaw("vendor=linkstate.secret@example.com")
	link.Attributes().PutStr("peer", "linkattr.secret@example.com")
	link.Attributes().PutStr("card", sigCard)
	link.Attributes().PutStr("ssn", sigSSN)

	clean := ss.Spans().AppendEmpty()
	clean.SetName("claude_code.llm_request")
	clean.SetSpanID(pcommon.SpanID{2})

	other := rs.ScopeSpans().AppendEmpty()
	other.Scope().SetName("com.anthropic.claude_code.tracing")
	other.Scope().SetVersion("1.0.0")
	ok := other.Spans().AppendEmpty()
	ok.SetName("claude_code.interaction")
	ok.SetSpanID(pcommon.SpanID{3})
	return td
}

// TestSpanFieldsCarryNoRawPII: span name, status message, trace state, event names and attributes, link attributes
// and trace state, and the scope's name, version, attributes and schema URL all come out without the raw values;
// findings anywhere in a span or its scope make its verdict redacted, and a span in a clean scope stays allowed.
func TestSpanFieldsCarryNoRawPII(t *testing.T) {
	consume, _ := signalTraces(t)
	out := consume(hostileSpans())
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(out)
	require.NoError(t, err)
	assertNoSigRaw(t, b)

	scopes := out.ResourceSpans().At(0).ScopeSpans()
	hostile := scopes.At(0).Spans().At(0)
	assert.Equal(t, "claude_code.tool [REDACTED:email] [REDACTED:ssn] [REDACTED:credit_card]", hostile.Name())
	assert.Equal(t, "tool failed for [REDACTED:email], SSN [REDACTED:ssn], card [REDACTED:credit_card]", hostile.Status().Message())
	assert.Equal(t, ptrace.StatusCodeError, hostile.Status().Code())
	assert.Equal(t, "contact [REDACTED:email] [REDACTED:credit_card]", hostile.Events().At(0).Name())
	_, claimed := hostile.Events().At(0).Attributes().Get("user.email")
	assert.False(t, claimed, "a spoofable key on an event is removed")
	assert.Equal(t, "com.anthropic.claude_code.tracing [REDACTED:email]", scopes.At(0).Scope().Name())
	for i, want := range []string{"redacted", "redacted"} {
		assert.Equal(t, want, audit.Str(scopes.At(0).Spans().At(i).Attributes(), audit.AttrPolicyDecision), "span %d of the hostile scope", i)
	}
	okSpan := scopes.At(1).Spans().At(0)
	assert.Equal(t, "claude_code.interaction", okSpan.Name())
	assert.Equal(t, "allowed", audit.Str(okSpan.Attributes(), audit.AttrPolicyDecision), "the clean scope's span")
	assert.Equal(t, "com.anthropic.claude_code.tracing", scopes.At(1).Scope().Name())
	assert.Equal(t, "1.0.0", scopes.At(1).Scope().Version())
}

// TestSpanOwnFieldFindingsDecideItsVerdict: PII only in a span's name, only in its status message, only in an
// event name or only in a link attribute each make that span redacted (and only that span).
func TestSpanOwnFieldFindingsDecideItsVerdict(t *testing.T) {
	consume, _ := signalTraces(t)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "claude-code")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.AppendEmpty().SetName("claude_code.tool a.secret@example.com")
	spans.AppendEmpty().Status().SetMessage("card " + sigCard)
	spans.AppendEmpty().Events().AppendEmpty().SetName("ssn " + sigSSN)
	spans.AppendEmpty().Links().AppendEmpty().Attributes().PutStr("peer", "b.secret@example.com")
	spans.AppendEmpty().SetName("claude_code.tool")
	out := consume(td)
	got := []string{}
	for _, s := range out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
		got = append(got, audit.Str(s.Attributes(), audit.AttrPolicyDecision))
	}
	assert.Equal(t, []string{"redacted", "redacted", "redacted", "redacted", "allowed"}, got)
}

// TestSpanNameCapped: a span name (and an event name) longer than maxSpanNameBytes is cut on a rune boundary
// after masking, the cut marked; invalid UTF-8 (never a valid Prometheus label value) is replaced.
func TestSpanNameCapped(t *testing.T) {
	consume, _ := signalTraces(t)
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	long := "claude_code." + strings.Repeat("é", 200)
	s := spans.AppendEmpty()
	s.SetName(long)
	s.Events().AppendEmpty().SetName(long)
	spans.AppendEmpty().SetName("claude_code.tool\xff")
	// The email sits across the cap: it is masked before the cut, so no prefix of it survives.
	spans.AppendEmpty().SetName(strings.Repeat("x", 110) + " cut.secret@example.com")
	out := consume(td).ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for _, name := range []string{out.At(0).Name(), out.At(0).Events().At(0).Name()} {
		assert.LessOrEqual(t, len(name), maxSpanNameBytes)
		assert.True(t, strings.HasSuffix(name, "…"), name)
		assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(name, "…")), name)
	}
	assert.Equal(t, "claude_code.tool\uFFFD", out.At(1).Name())
	assert.NotContains(t, out.At(2).Name(), "cut.secret")
	assert.LessOrEqual(t, len(out.At(2).Name()), maxSpanNameBytes)
}

// A span name cannot carry a number glued into an identifier (the engine leaves those alone) nor characters that
// make a dashboard label show something else.
func TestSpanNameDigitRunsAndInvisibleCharacters(t *testing.T) {
	consume, _ := signalTraces(t)
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, n := range []string{
		"claude_code.tool_4111111111111111", "GET /orders/1234", "admin‮tool", "a​bc", "claude_code.llm_request",
	} {
		spans.AppendEmpty().SetName(n)
	}
	out := consume(td).ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i, want := range []string{
		"claude_code.tool_[digits]", "GET /orders/1234", "admin�tool", "a�b�c", "claude_code.llm_request",
	} {
		assert.Equal(t, want, out.At(i).Name())
	}
	assert.Equal(t, "claude_code.tool_[digits]", replaceDigitRuns("claude_code.tool_4111111111111111"))
	assert.Equal(t, "x[digits]y12a[digits]", replaceDigitRuns("x12345y12a98765"))
}

// TestSpanMetricsDimensionsCarryNoContent: what span_metrics groups by (span.name, tool_name, model, user_email,
// origin, tenant_id) holds no raw value even when the client puts one there: the name is masked, the stamped keys
// are overwritten with the identity, and an allow-listed key passes its value only when it is an identifier.
func TestSpanMetricsDimensionsCarryNoContent(t *testing.T) {
	consume, _ := signalTraces(t)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "claude-code")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("claude_code.tool dim.secret@example.com")
	s.Attributes().PutStr("tool_name", "tool.secret@example.com")
	s.Attributes().PutStr("model", "claude "+sigCard)
	s.Attributes().PutStr("user_email", "spoof.secret@example.com")
	s.Attributes().PutStr("tenant.id", "tenant "+sigSSN)
	out := consume(td)
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(out)
	require.NoError(t, err)
	// The payload's valid email claim is an identity fact kept as claimed_user_email, beside user_email and never a
	// span_metrics dimension; it is the one place the claimed address may appear.
	span := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	if claim, ok := span.Attributes().Get("claimed_user_email"); ok {
		assert.Equal(t, "spoof.secret@example.com", claim.Str())
		b = bytes.ReplaceAll(b, []byte(`"claimed_user_email","value":{"stringValue":"spoof.secret@example.com"}`), nil)
	}
	assertNoSigRaw(t, b)
	a := span.Attributes()
	assert.Equal(t, "dev@example.com", audit.Str(a, "user_email"))
	assert.Equal(t, "tenant-a", audit.Str(a, "tenant_id"))
	assert.Equal(t, "claude-code", audit.Str(a, "origin"))
	assert.Equal(t, "claude_code.tool [REDACTED:email]", span.Name())
	assert.Equal(t, "[REDACTED:email]", audit.Str(a, "tool_name"))
	assert.Equal(t, "claude [REDACTED:credit_card]", audit.Str(a, "model"))
}

// hostileMetrics has a sum whose name, description, unit, metadata, exemplar filtered attributes and scope carry
// PII, a gauge with a card number in an otherwise valid name, and a histogram with a clean name but a unit holding
// a card number.
func hostileMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "claude-code")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.SetSchemaUrl("https://schemas.example/1.0?owner=schema.secret@example.com")
	sm.Scope().SetName("com.anthropic.claude_code scope.secret@example.com")
	sm.Scope().SetVersion("build " + sigSSN)
	sm.Scope().Attributes().PutStr("owner", "scopeattr.secret@example.com")

	m := sm.Metrics().AppendEmpty()
	m.SetName("claude_code.token.usage.name.secret@example.com")
	m.SetDescription("tokens of desc.secret@example.com, SSN " + sigSSN)
	m.SetUnit("unit.secret@example.com")
	m.Metadata().PutStr("note", "meta.secret@example.com "+sigCard)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetDoubleValue(42)
	dp.Attributes().PutStr("type", "input")
	ex := dp.Exemplars().AppendEmpty()
	ex.SetDoubleValue(42)
	ex.FilteredAttributes().PutStr("prompt", "exemplar.secret@example.com ssn "+sigSSN)
	ex.FilteredAttributes().PutStr("card", sigCard)
	ex.FilteredAttributes().PutStr("user.email", "exclaim.secret@example.com")

	g := sm.Metrics().AppendEmpty()
	g.SetName("claude_code.cost_" + sigCardFlat)
	g.SetDescription("a gauge")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)

	h := sm.Metrics().AppendEmpty()
	h.SetName("claude_code.latency")
	h.SetDescription("latency")
	h.SetUnit(sigCardFlat)
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetCount(1)
	hdp.Exemplars().AppendEmpty().FilteredAttributes().PutStr("who", "hex.secret@example.com")
	return md
}

// TestMetricFieldsCarryNoRawPII: metric names, descriptions, units, metadata, exemplar filtered attributes and
// scope fields come out without the raw values; a name that fails the rule or carries PII is replaced by
// govcol.withheld_metric_name.<type>, a unit that carries PII is dropped, and the data points are kept and stamped.
func TestMetricFieldsCarryNoRawPII(t *testing.T) {
	consume := signalMetrics(t)
	out := consume(hostileMetrics())
	b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(out)
	require.NoError(t, err)
	assertNoSigRaw(t, b)

	sm := out.ResourceMetrics().At(0).ScopeMetrics().At(0)
	assert.Equal(t, "com.anthropic.claude_code [REDACTED:email]", sm.Scope().Name())
	ms := sm.Metrics()
	require.Equal(t, 3, ms.Len())
	assert.Equal(t, "govcol.withheld_metric_name.sum", ms.At(0).Name())
	assert.Equal(t, withheldMetricDescription, ms.At(0).Description())
	assert.Empty(t, ms.At(0).Unit())
	assert.Equal(t, 42.0, ms.At(0).Sum().DataPoints().At(0).DoubleValue())
	a := ms.At(0).Sum().DataPoints().At(0).Attributes()
	assert.Equal(t, "dev@example.com", audit.Str(a, "user_email"))
	assert.Equal(t, "input", audit.Str(a, "type"))
	fa := ms.At(0).Sum().DataPoints().At(0).Exemplars().At(0).FilteredAttributes()
	_, claimed := fa.Get("user.email")
	assert.False(t, claimed, "an exemplar's spoofable key is removed")
	assert.Equal(t, "govcol.withheld_metric_name.gauge", ms.At(1).Name())
	assert.Equal(t, "claude_code.latency", ms.At(2).Name())
	assert.Equal(t, "latency", ms.At(2).Description())
	assert.Empty(t, ms.At(2).Unit())
}

// TestMetricNameRule: the OpenTelemetry instrument name rule; names that pass it are kept only when the engine finds
// nothing in them.
func TestMetricNameRule(t *testing.T) {
	for _, ok := range []string{"claude_code.token.usage", "claude_code.cost.usage", "http.server.request.duration",
		"a", "process/cpu-time", "govcol.spans.calls", strings.Repeat("a", 255)} {
		assert.True(t, validMetricName(ok), ok)
	}
	for _, bad := range []string{"", "1abc", "_abc", "claude code", "a@b.com", "tokens{user=x}", "naïve",
		strings.Repeat("a", 256), "a\nb", "claude_code:usage", "claude_code.cost_4111111111111111", "user_12345"} {
		assert.False(t, validMetricName(bad), bad)
	}
	for _, ok := range []string{"", "s", "ms", "By", "USD", "tokens", "{token}", "1", "%", "By/s"} {
		assert.True(t, validMetricUnit(ok), ok)
	}
	for _, bad := range []string{"per second", "é", strings.Repeat("s", 64), "a\tb", "x4111111111111111"} {
		assert.False(t, validMetricUnit(bad), bad)
	}
}

// TestFixtureSpanAndMetricNamesUnchanged: the names Claude Code really sends (span, event, scope, metric names,
// descriptions and units of the 2.1.330 fixtures) pass unchanged.
func TestFixtureSpanAndMetricNamesUnchanged(t *testing.T) {
	consume, _ := signalTraces(t)
	type spanNames struct{ scope, version, name, status string }
	collect := func(td ptrace.Traces) (out []spanNames, events []string) {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					out = append(out, spanNames{ss.Scope().Name(), ss.Scope().Version(), s.Name(), s.Status().Message()})
					for _, e := range s.Events().All() {
						events = append(events, e.Name())
					}
				}
			}
		}
		return out, events
	}
	wantSpans, wantEvents := collect(fixtureTraces(t))
	gotSpans, gotEvents := collect(consume(fixtureTraces(t)))
	assert.Equal(t, wantSpans, gotSpans)
	assert.Equal(t, wantEvents, gotEvents)
	assert.Contains(t, gotSpans, spanNames{"com.anthropic.claude_code.tracing", "1.0.0", "claude_code.tool.execution", ""})

	consumeMetrics := signalMetrics(t)
	type metricNames struct{ scope, version, name, description, unit string }
	collectM := func(md pmetric.Metrics) (out []metricNames) {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					out = append(out, metricNames{sm.Scope().Name(), sm.Scope().Version(), m.Name(), m.Description(), m.Unit()})
				}
			}
		}
		return out
	}
	want := collectM(fixtureMetrics(t))
	assert.Equal(t, want, collectM(consumeMetrics(fixtureMetrics(t))))
	assert.Contains(t, want, metricNames{"com.anthropic.claude_code", "2.1.330", "claude_code.token.usage", "Number of tokens used", "tokens"})
}

// TestDetectionFailureWithholdsSpanAndMetricFields: when detection cannot finish, a span name, status message and
// scope name are withheld (never passed unscanned), the span's verdict is error, and a metric's name is replaced
// and its unit dropped.
func TestDetectionFailureWithholdsSpanAndMetricFields(t *testing.T) {
	g := newTestGovernor(t, func(c *Config) { c.PII.Timeout = time.Nanosecond })
	ctx := authCtx(license(), claudeHeaders())
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	ss.Scope().SetName("com.anthropic.claude_code.tracing")
	s := ss.Spans().AppendEmpty()
	s.SetName("claude_code.tool")
	s.Status().SetMessage("failed")
	out, err := g.processTraces(ctx, td)
	require.NoError(t, err)
	got := out.ResourceSpans().At(0).ScopeSpans().At(0)
	assert.Equal(t, withheldMarker, got.Scope().Name())
	assert.Equal(t, withheldMarker, got.Spans().At(0).Name())
	assert.Equal(t, withheldMarker, got.Spans().At(0).Status().Message())
	assert.Equal(t, "error", audit.Str(got.Spans().At(0).Attributes(), audit.AttrPolicyDecision))

	md := fixtureMetrics(t)
	outM, err := g.processMetrics(ctx, md)
	require.NoError(t, err)
	for _, m := range outM.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().All() {
		assert.Equal(t, "govcol.withheld_metric_name.sum", m.Name())
		assert.Empty(t, m.Unit())
	}
}
