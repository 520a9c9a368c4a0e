package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/govcol/govcol/internal/audit"
)

// stampIdentity sets the developer-level attributes the Prometheus exporter and span_metrics group by.
func stampIdentity(m pcommon.Map, id *identity, origin audit.Origin) {
	m.PutStr("tenant_id", id.tenantID)
	m.PutStr("user_email", id.userEmail)
	m.PutStr("origin", string(origin))
}

// processTraces strips spoofable attributes, masks every content-bearing field of spans (see governSpan), of their
// scopes and of their schema URLs, evaluates span policies and stamps tenant_id, user_email, origin and
// audit.policy_decision on every span.
//
// Findings layer like the records of a log resource: the resource's findings belong to each of its spans, a scope's
// findings to each span of that scope, and a span's own findings to that span only; each counts toward the span's
// verdict (sys_pii_redaction, sys_redaction_unavailable).
func (g *governor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	id, stats, sc, err := g.beginBatch(ctx, "traces")
	if err != nil {
		return td, err
	}
	defer g.endBatch(sc)
	ms := &sc.mask
	for _, rs := range td.ResourceSpans().All() {
		rc, resMark := g.prepareResource(&id, rs.Resource(), ms, stats)
		if u, changed := g.masker.maskPlain("schema_url", rs.SchemaUrl(), ms); changed {
			rs.SetSchemaUrl(u)
		}
		resMark = remark(ms, resMark, stats)
		for _, ss := range rs.ScopeSpans().All() {
			g.maskScope(ss.Scope(), ms)
			if u, changed := g.masker.maskPlain("scope.schema_url", ss.SchemaUrl(), ms); changed {
				ss.SetSchemaUrl(u)
			}
			scopeMark := remark(ms, resMark, stats)
			for _, span := range ss.Spans().All() {
				attrs := span.Attributes()
				// The payload's email claim, as on logs: a valid address is kept beside user_email, anything
				// else is masked as payload text.
				claimed := g.putClaimedEmail(attrs, stripSpoofable(attrs))
				g.masker.maskMap(attrs, ms)
				if claimed != "" {
					attrs.PutStr(claimedEmailKey, claimed)
				}
				g.governSpan(span, ms)
				stampIdentity(attrs, &id, rc.origin)

				ev := &sc.eval
				ev.reset()
				maskingRules(ms, ev)
				tCtx := ottlspan.NewTransformContext(rs, ss, span)
				g.policies.evalSpanPolicies(ctx, tCtx, ev)
				tCtx.Close()
				for _, f := range ev.failures {
					stats.evalErrs[f]++
				}
				attrs.PutStr(audit.AttrPolicyDecision, string(ev.verdict))
				if ev.top >= 0 {
					attrs.PutStr(audit.AttrTopPolicy, ev.results[ev.top].ID)
				}
				stats.withheld += int64(ms.withheld - scopeMark.withheld)
				ms.rewind(scopeMark)
			}
			ms.rewind(resMark)
		}
	}
	g.flushStats(ctx, "traces", stats)
	return td, nil
}

// maxSpanNameBytes caps span names and span event names after masking: span.name is a span_metrics dimension, so
// it becomes a Prometheus label value. Claude Code's names (claude_code.interaction, claude_code.llm_request,
// claude_code.tool, claude_code.tool.execution, claude_code.tool.blocked_on_user) are far shorter.
const maxSpanNameBytes = 128

// governSpan masks the span's own string fields other than its attributes: name (masked, then capped at
// maxSpanNameBytes), status message, trace state, each event's name (masked and capped like the span name) and
// attributes, and each link's attributes and trace state. Spoofable keys are removed from event and link
// attributes as from the span's.
func (g *governor) governSpan(span ptrace.Span, ms *maskState) {
	mk := g.masker
	if n, changed := mk.maskName("span.name", span.Name(), ms); changed {
		span.SetName(n)
	}
	if m, changed := mk.maskPlain("status.message", span.Status().Message(), ms); changed {
		span.Status().SetMessage(m)
	}
	maskTraceState(mk, "trace_state", span.TraceState(), ms)
	for _, e := range span.Events().All() {
		if n, changed := mk.maskName("event.name", e.Name(), ms); changed {
			e.SetName(n)
		}
		stripSpoofable(e.Attributes())
		mk.maskMap(e.Attributes(), ms)
	}
	for _, l := range span.Links().All() {
		stripSpoofable(l.Attributes())
		mk.maskMap(l.Attributes(), ms)
		maskTraceState(mk, "link.trace_state", l.TraceState(), ms)
	}
}

func maskTraceState(mk *masker, field string, ts pcommon.TraceState, ms *maskState) {
	if s, changed := mk.maskPlain(field, ts.AsRaw(), ms); changed {
		ts.FromRaw(s)
	}
}

// maskScope masks an instrumentation scope's name, version and attributes (the Prometheus exporter turns them into
// otel_scope_* labels).
func (g *governor) maskScope(scope pcommon.InstrumentationScope, ms *maskState) {
	if n, changed := g.masker.maskPlain("scope.name", scope.Name(), ms); changed {
		scope.SetName(n)
	}
	if v, changed := g.masker.maskPlain("scope.version", scope.Version(), ms); changed {
		scope.SetVersion(v)
	}
	g.masker.maskMap(scope.Attributes(), ms)
}

// remark returns a mark of ms after what was masked since m (counting the values withheld since then), or m itself
// when nothing was: a shared layer (a resource's schema URL, a scope) then costs no copy.
func remark(ms *maskState, m maskMark, stats *batchStats) maskMark {
	if ms.withheld == m.withheld && len(ms.fields) == m.fields && len(ms.types) == len(m.types) {
		return m // types is a set that only grows: same length, same set
	}
	stats.withheld += int64(ms.withheld - m.withheld)
	return ms.mark()
}

// maskName masks a span or event name (maskPlain), makes it valid UTF-8 (a Prometheus label value must be),
// replaces control and invisible characters (which could make a dashboard label show something else) with U+FFFD and
// runs of 5 or more digits (which the engine leaves alone when glued into an identifier, as it may be a card or an
// account number) with "[digits]", and caps it at maxSpanNameBytes on a rune boundary, the cut marked with "…".
// Masking comes first so that a cut never leaves part of an email or number unscanned.
func (mk *masker) maskName(field, s string, st *maskState) (string, bool) {
	out, changed := mk.maskPlain(field, s, st)
	if !utf8.ValidString(out) {
		out, changed = strings.ToValidUTF8(out, "\uFFFD"), true
	}
	if invisibleCharacter(out) != "" {
		out, changed = strings.Map(func(r rune) rune {
			if invisibleCharacter(string(r)) != "" {
				return utf8.RuneError
			}
			return r
		}, out), true
	}
	if hasDigitRun(out) {
		out, changed = replaceDigitRuns(out), true
		st.addField(field)
	}
	if len(out) > maxSpanNameBytes {
		out, changed = truncateUTF8(out, maxSpanNameBytes-len("…"))+"…", true
	}
	return out, changed
}

// replaceDigitRuns replaces every run of 5 or more ASCII digits in s with "[digits]".
func replaceDigitRuns(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		switch {
		case j-i >= 5:
			b.WriteString("[digits]")
		case j > i:
			b.WriteString(s[i:j])
		default:
			b.WriteByte(s[i])
			j = i + 1
		}
		i = j
	}
	return b.String()
}

// screen reports whether s may pass as it is: the engine finds nothing in it and did not cut it. What it finds is
// counted like masking's findings (types, field), a detection failure as withheld; the caller replaces or drops s.
func (mk *masker) screen(field, s string, st *maskState) bool {
	res, err := mk.engine.MaskWith(s, &st.pii)
	switch {
	case err != nil:
		st.withheld++
		st.addField(field)
		return false
	case len(res.Types) > 0:
		st.addField(field)
		st.addTypes(res.Types)
		return false
	}
	return !res.Truncated
}

// processMetrics stamps and masks only: spoofable and configured high-cardinality attributes are removed from
// resources and data points, string attributes (of resources, scopes, data points and exemplars) are masked, metric
// names, units and descriptions are checked or masked (governMetric), and tenant_id, user_email and origin are
// stamped on every data point.
func (g *governor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	id, stats, sc, err := g.beginBatch(ctx, "metrics")
	if err != nil {
		return md, err
	}
	defer g.endBatch(sc)
	ms := &sc.mask
	for _, rm := range md.ResourceMetrics().All() {
		rc, resMark := g.prepareResource(&id, rm.Resource(), ms, stats)
		g.dropAttributes(rm.Resource().Attributes())
		if u, changed := g.masker.maskPlain("schema_url", rm.SchemaUrl(), ms); changed {
			rm.SetSchemaUrl(u)
		}
		for _, sm := range rm.ScopeMetrics().All() {
			g.maskScope(sm.Scope(), ms)
			if u, changed := g.masker.maskPlain("scope.schema_url", sm.SchemaUrl(), ms); changed {
				sm.SetSchemaUrl(u)
			}
			for _, m := range sm.Metrics().All() {
				g.governMetric(m, ms)
				forEachDataPoint(m, func(attrs pcommon.Map, exemplars pmetric.ExemplarSlice) {
					stripSpoofable(attrs)
					g.dropAttributes(attrs)
					g.masker.maskMap(attrs, ms)
					stampIdentity(attrs, &id, rc.origin)
					for _, ex := range exemplars.All() {
						fa := ex.FilteredAttributes()
						stripSpoofable(fa)
						g.dropAttributes(fa)
						g.masker.maskMap(fa, ms)
					}
				})
			}
		}
		stats.withheld += int64(ms.withheld - resMark.withheld)
	}
	g.flushStats(ctx, "metrics", stats)
	return md, nil
}

const (
	// withheldMetricName is the name prefix of a metric whose own name failed validMetricName or carried what
	// the engine detects; the metric's type follows (govcol.withheld_metric_name.sum, ...), so metrics of
	// different types never share a Prometheus metric family.
	withheldMetricName = "govcol.withheld_metric_name"
	// withheldMetricDescription replaces the description of such a metric (its own described the withheld name).
	withheldMetricDescription = "A metric whose name was withheld by govcol: it failed the OpenTelemetry instrument name rule or held personal data or a secret."
	// maxMetricNameBytes and maxMetricUnitBytes are the OpenTelemetry API's limits on instrument names and units.
	maxMetricNameBytes = 255
	maxMetricUnitBytes = 63
)

// governMetric applies the metric-level rules. The name is an identifier (it becomes the Prometheus metric name):
// one that fails validMetricName or in which the engine finds anything is replaced by withheldMetricName.<type>
// (with a fixed description and no unit). The unit becomes a name suffix in Prometheus too: one that fails
// validMetricUnit or carries findings is dropped (set empty). The description (Prometheus HELP text) and the
// metric's metadata attributes are masked.
func (g *governor) governMetric(m pmetric.Metric, ms *maskState) {
	mk := g.masker
	if name := m.Name(); !validMetricName(name) || !mk.screen("metric.name", name, ms) {
		m.SetName(withheldMetricName + "." + metricTypeSuffix(m.Type()))
		m.SetDescription(withheldMetricDescription)
		m.SetUnit("")
	} else {
		if d, changed := mk.maskPlain("metric.description", m.Description(), ms); changed {
			m.SetDescription(d)
		}
		if u := m.Unit(); u != "" && (!validMetricUnit(u) || !mk.screen("metric.unit", u, ms)) {
			m.SetUnit("")
		}
	}
	mk.maskMap(m.Metadata(), ms)
}

// validMetricName is the OpenTelemetry instrument name rule (an ASCII letter, then up to 254 ASCII letters,
// digits and _ . - /; the Prometheus exporter maps . - / to _, so every such name is a valid Prometheus name) with
// no run of 5 or more digits, as for attribute keys (plainKey): the engine leaves digits glued into an identifier
// alone (claude_code.cost_4111111111111111 is code-like text to it), so a name cannot hold a number-shaped
// identifier (card, SSN, phone, account number) at all.
func validMetricName(s string) bool {
	if s == "" || len(s) > maxMetricNameBytes || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case isAlnumByte(c), c == '_', c == '.', c == '-', c == '/':
		default:
			return false
		}
	}
	return !hasDigitRun(s)
}

// validMetricUnit accepts a UCUM-like unit: up to 63 bytes of printable ASCII without spaces (s, ms, By, USD,
// tokens, {token}, 1, %) and no run of 5 or more digits.
func validMetricUnit(s string) bool {
	if len(s) > maxMetricUnitBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return !hasDigitRun(s)
}

// hasDigitRun reports whether s holds 5 or more consecutive ASCII digits.
func hasDigitRun(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if run++; run >= 5 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func isAlnumByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func metricTypeSuffix(t pmetric.MetricType) string {
	switch t {
	case pmetric.MetricTypeGauge:
		return "gauge"
	case pmetric.MetricTypeSum:
		return "sum"
	case pmetric.MetricTypeHistogram:
		return "histogram"
	case pmetric.MetricTypeExponentialHistogram:
		return "exponential_histogram"
	case pmetric.MetricTypeSummary:
		return "summary"
	}
	return "empty"
}

func (g *governor) dropAttributes(m pcommon.Map) {
	if len(g.drop) == 0 {
		return
	}
	m.RemoveIf(func(k string, _ pcommon.Value) bool { return g.drop[k] })
}

func forEachDataPointAttributes(m pmetric.Metric, f func(pcommon.Map)) {
	forEachDataPoint(m, func(attrs pcommon.Map, _ pmetric.ExemplarSlice) { f(attrs) })
}

// forEachDataPoint calls f with each data point's attributes and exemplars (summaries have none: an empty slice).
func forEachDataPoint(m pmetric.Metric, f func(pcommon.Map, pmetric.ExemplarSlice)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			f(dp.Attributes(), dp.Exemplars())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			f(dp.Attributes(), dp.Exemplars())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			f(dp.Attributes(), dp.Exemplars())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			f(dp.Attributes(), dp.Exemplars())
		}
	case pmetric.MetricTypeSummary:
		none := pmetric.NewExemplarSlice()
		for _, dp := range m.Summary().DataPoints().All() {
			f(dp.Attributes(), none)
		}
	}
}
