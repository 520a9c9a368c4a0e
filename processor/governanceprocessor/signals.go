package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"context"

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

// processTraces strips spoofable attributes, masks span and span-event attributes, evaluates span policies and
// stamps tenant_id, user_email, origin and audit.policy_decision on every span.
func (g *governor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	id, stats, sc, err := g.beginBatch(ctx, "traces")
	if err != nil {
		return td, err
	}
	defer g.scratch.Put(sc)
	ms := &sc.mask
	for _, rs := range td.ResourceSpans().All() {
		rc, resMark := g.prepareResource(&id, rs.Resource(), ms, stats)
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				attrs := span.Attributes()
				claimed := stripSpoofable(attrs)
				g.masker.maskMap(attrs, ms)
				if claimed != "" {
					attrs.PutStr("claimed_user_email", capHeader(claimed, maxEmailBytes))
				}
				for _, e := range span.Events().All() {
					stripSpoofable(e.Attributes())
					g.masker.maskMap(e.Attributes(), ms)
				}
				stampIdentity(attrs, &id, rc.origin)

				ev := &sc.eval
				ev.reset()
				maskingRules(ms, ev)
				tCtx := ottlspan.NewTransformContextPtr(rs, ss, span)
				g.policies.evalSpanPolicies(ctx, tCtx, ev)
				tCtx.Close()
				for _, f := range ev.failures {
					stats.evalErrs[f]++
				}
				attrs.PutStr(audit.AttrPolicyDecision, string(ev.verdict))
				if ev.top >= 0 {
					attrs.PutStr(audit.AttrTopPolicy, ev.results[ev.top].ID)
				}
				stats.withheld += int64(ms.withheld - resMark.withheld)
				ms.rewind(resMark)
			}
		}
	}
	g.flushStats(ctx, "traces", stats)
	return td, nil
}

// processMetrics stamps and masks only: spoofable and configured high-cardinality attributes are removed from
// resources and data points, string attributes are masked, and tenant_id, user_email and origin are stamped on
// every data point.
func (g *governor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	id, stats, sc, err := g.beginBatch(ctx, "metrics")
	if err != nil {
		return md, err
	}
	defer g.scratch.Put(sc)
	ms := &sc.mask
	for _, rm := range md.ResourceMetrics().All() {
		rc, resMark := g.prepareResource(&id, rm.Resource(), ms, stats)
		g.dropAttributes(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				forEachDataPointAttributes(m, func(attrs pcommon.Map) {
					stripSpoofable(attrs)
					g.dropAttributes(attrs)
					g.masker.maskMap(attrs, ms)
					stampIdentity(attrs, &id, rc.origin)
				})
			}
		}
		stats.withheld += int64(ms.withheld - resMark.withheld)
	}
	g.flushStats(ctx, "metrics", stats)
	return md, nil
}

func (g *governor) dropAttributes(m pcommon.Map) {
	if len(g.drop) == 0 {
		return
	}
	m.RemoveIf(func(k string, _ pcommon.Value) bool { return g.drop[k] })
}

func forEachDataPointAttributes(m pmetric.Metric, f func(pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			f(dp.Attributes())
		}
	}
}
