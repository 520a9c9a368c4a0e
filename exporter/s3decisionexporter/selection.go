package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/audit"
)

// selector decides which governed records are decisions: the configured OTTL condition in the ottllog context,
// evaluated on the log record as the governance processor stamped it (live path) or as rebuilt from its
// audit_logs row (reconciler, recordLogs).
type selector struct {
	cond *ottl.Condition[*ottllog.TransformContext]
	// native is the default selection evaluated in Go, without an OTTL transform context per record: set when the
	// configured condition is DefaultSelection (TestDefaultSelectionNative keeps the two equal).
	native func(lr plog.LogRecord) bool
}

func newSelector(expr string, set component.TelemetrySettings) (*selector, error) {
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	p, err := ottllog.NewParser(ottlfuncs.StandardConverters[*ottllog.TransformContext](), set)
	if err != nil {
		return nil, err
	}
	c, err := p.ParseCondition(expr)
	if err != nil {
		return nil, fmt.Errorf("s3decision: selection is not a valid OTTL condition: %w", err)
	}
	sel := &selector{cond: c}
	if strings.TrimSpace(expr) == DefaultSelection {
		sel.native = defaultSelects
	}
	return sel, nil
}

// defaultSelects is DefaultSelection with OTTL's comparison rules: a missing attribute or one of another type is
// not equal to a string (so a record without audit.policy_decision is selected).
func defaultSelects(lr plog.LogRecord) bool {
	attrs := lr.Attributes()
	if v, ok := attrs.Get(audit.AttrEvent); ok && v.Type() == pcommon.ValueTypeStr {
		if ev := v.Str(); ev == "tool_decision" || ev == "code_edit_tool_decision" {
			return true
		}
	}
	v, ok := attrs.Get(audit.AttrPolicyDecision)
	return !ok || v.Type() != pcommon.ValueTypeStr || v.Str() != "allowed"
}

// selects evaluates the condition; a condition that fails to evaluate selects the record (shipping one decision
// too many is cheaper than losing one).
func (s *selector) selects(ctx context.Context, rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord) bool {
	if s.native != nil {
		return s.native(lr)
	}
	return s.selectsOTTL(ctx, rl, sl, lr)
}

// selectsOTTL evaluates the OTTL condition.
func (s *selector) selectsOTTL(ctx context.Context, rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord) bool {
	tCtx := ottllog.NewTransformContext(rl, sl, lr)
	ok, err := s.cond.Eval(ctx, tCtx)
	tCtx.Close()
	return ok || err != nil
}

// selectsRecord evaluates the condition on a record rebuilt from its audit_logs row.
func (s *selector) selectsRecord(ctx context.Context, r *audit.Record) bool {
	ld := recordLogs(r)
	rl := ld.ResourceLogs().At(0)
	sl := rl.ScopeLogs().At(0)
	return s.selects(ctx, rl, sl, sl.LogRecords().At(0))
}

// metadata keys FromLogRecord files the stamped extras under; recordLogs turns them back into audit.* attributes.
var extraKeys = map[string]bool{"event_name": true, "license_id": true, "license_tier": true, "attempted_user_email": true, "resource": true}

// recordLogs rebuilds the log record the governance processor emitted from a stored record: every audit.*
// attribute (WriteAttributes, with audit.event, audit.license_id, audit.tier, audit.attempted_user_email and
// audit.policy_label restored), the record's other attributes from metadata, the resource attributes from
// metadata.resource, and the trace and span ids. What audit_logs does not keep is absent: the body, the content
// attributes (prompt, prompt_text, response: read audit.query / audit.response_sample), severity, the scope and
// the record's own timestamps; numbers from metadata come back as doubles (JSON).
func recordLogs(r *audit.Record) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if res, ok := r.Metadata["resource"].(map[string]any); ok {
		_ = rl.Resource().Attributes().FromRaw(res)
	}
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	attrs := lr.Attributes()
	for k, v := range r.Metadata {
		if extraKeys[k] {
			continue
		}
		_ = attrs.PutEmpty(k).FromRaw(v)
	}
	str := func(k string) string { s, _ := r.Metadata[k].(string); return s }
	r.WriteAttributes(attrs, audit.Extra{Event: str("event_name"), LicenseID: str("license_id"), Tier: str("license_tier"),
		AttemptedUserEmail: str("attempted_user_email"), PolicyLabel: audit.PolicyLabel(r.PolicyDetails.TopPolicy)})
	if b, err := hex.DecodeString(r.TraceID); err == nil && len(b) == 16 {
		lr.SetTraceID(pcommon.TraceID(b))
	}
	if b, err := hex.DecodeString(r.SpanID); err == nil && len(b) == 8 {
		lr.SetSpanID(pcommon.SpanID(b))
	}
	return ld
}
