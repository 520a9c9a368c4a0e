package audit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// AttrPrefix marks every attribute govcol stamps; incoming attributes under it are removed before stamping.
const AttrPrefix = "audit."

// The audit.* attributes the governance processor sets on every log record. They carry the canonical record
// through the pipeline so that any exporter, the count connector and OTTL can read it; FromLogRecord rebuilds the
// Record from them. Scalars are typed attributes, lists are slices, the JSON columns are JSON strings.
const (
	AttrID              = "audit.id"
	AttrDecisionID      = "audit.decision_id"
	AttrTimestamp       = "audit.timestamp"
	AttrReceivedAt      = "audit.received_at"
	AttrRequestID       = "audit.request_id"
	AttrCorrelationID   = "audit.correlation_id"
	AttrRequestType     = "audit.request_type"
	AttrEvent           = "audit.event"
	AttrPlane           = "audit.plane"
	AttrOrigin          = "audit.origin"
	AttrOrgID           = "audit.org_id"
	AttrTenantID        = "audit.tenant_id"
	AttrClientID        = "audit.client_id"
	AttrLicenseID       = "audit.license_id"
	AttrTier            = "audit.tier"
	AttrUserEmail       = "audit.user_email"
	AttrAttemptedEmail  = "audit.attempted_user_email"
	AttrIdentitySource  = "audit.identity_source"
	AttrUserID          = "audit.user_id"
	AttrSessionID       = "audit.session_id"
	AttrPolicyDecision  = "audit.policy_decision"
	AttrPolicyDetails   = "audit.policy_details"
	AttrTopPolicy       = "audit.top_policy"
	AttrPolicyLabel     = "audit.policy_label"
	AttrObligations     = "audit.obligations"
	AttrPIITypes        = "audit.pii_types"
	AttrRedactedFields  = "audit.redacted_fields"
	AttrQuery           = "audit.query"
	AttrResponseSample  = "audit.response_sample"
	AttrQueryHash       = "audit.query_hash"
	AttrProvider        = "audit.provider"
	AttrModel           = "audit.model"
	AttrToolName        = "audit.tool_name"
	AttrResponseTimeMS  = "audit.response_time_ms"
	AttrInputTokens     = "audit.input_tokens"
	AttrOutputTokens    = "audit.output_tokens"
	AttrTokensUsed      = "audit.tokens_used"
	AttrCost            = "audit.cost"
	AttrComplianceFlags = "audit.compliance_flags"
	AttrSecurityMetrics = "audit.security_metrics"
	AttrChainID         = "audit.chain_id"
	AttrChainSeq        = "audit.chain_seq"
	AttrPrevHash        = "audit.prev_hash"
	AttrRecordHash      = "audit.record_hash"
)

// ErrBadTimestamp is wrapped by FromLogRecord when audit.timestamp does not parse; an exporter may still ship the
// record without a time (FromLogRecordAnyTime).
var ErrBadTimestamp = errors.New("bad " + AttrTimestamp)

// FromLogRecordAnyTime is FromLogRecord for a record whose audit.timestamp may not parse: the Record then has a zero
// Timestamp and the raw value is returned.
func FromLogRecordAnyTime(res pcommon.Resource, lr plog.LogRecord) (Record, string, error) {
	r, err := FromLogRecord(res, lr)
	if err == nil || !errors.Is(err, ErrBadTimestamp) {
		return r, "", err
	}
	raw := ""
	if v, ok := lr.Attributes().Get(AttrTimestamp); ok {
		raw = v.AsString()
	}
	fixed := plog.NewLogRecord()
	lr.CopyTo(fixed)
	fixed.Attributes().PutStr(AttrTimestamp, placeholderTime)
	r, err = FromLogRecord(res, fixed)
	r.Timestamp = time.Time{}
	return r, raw, err
}

// placeholderTime stands in for an unparseable time while the rest of the record is read (Validate needs one).
const placeholderTime = "1970-01-01T00:00:00Z"

// Extra carries the stamped facts that are not columns of their own; FromLogRecord files them under metadata.
type Extra struct {
	Event              string
	LicenseID          string
	Tier               string
	AttemptedUserEmail string
	// PolicyLabel is the bounded metric label of the top policy: a system policy id, tenant_custom, or none.
	PolicyLabel string
}

// PolicyLabel is the bounded label of the top policy (Extra.PolicyLabel): system policy ids as they are, tenant
// policies collapsed to tenant_custom, none when nothing matched. The processor stamps it; the decision store's
// reconciler derives it again from a stored row, so both use this one rule.
func PolicyLabel(top string) string {
	switch {
	case top == "":
		return "none"
	case strings.HasPrefix(top, "sys_"):
		return top
	}
	return "tenant_custom"
}

// ContentKeys are the record attributes whose (masked) value is the query or response_sample column; they are not
// repeated in metadata.
var ContentKeys = map[string]bool{"prompt": true, "prompt_text": true, "response": true}

// MaxStampedAttributes is the most attributes WriteAttributes adds, for callers that reserve capacity.
const MaxStampedAttributes = 45

// WriteAttributes stamps r (and extra) on m as audit.* attributes, walking Fields: required text always, optional
// text and the extras when set, the JSON columns as JSON strings, lists as slices, measured numbers when measured,
// chain_seq when not 0. Callers that stamp many records reserve capacity first (MaxStampedAttributes).
func (r *Record) WriteAttributes(m pcommon.Map, extra Extra) {
	for i := range Fields {
		f := &Fields[i]
		if f.Attr == "" {
			continue
		}
		switch f.Kind {
		case KindText, KindUUID:
			if s := *f.Text(r); s != "" || !f.Optional {
				m.PutStr(f.Attr, s)
			}
		case KindExtra:
			if s := *f.Extra(&extra); s != "" {
				m.PutStr(f.Attr, s)
			}
		case KindTime:
			m.PutStr(f.Attr, f.Time(r).UTC().Format(time.RFC3339Nano))
		case KindJSON:
			m.PutStr(f.Attr, f.JSON.stamp(r))
		case KindStringsJSON, KindList:
			putStrings(m, f.Attr, *f.List(r))
		case KindInt:
			putInt(m, f.Attr, *f.Int(r))
		case KindFloat:
			if p := *f.Float(r); p != nil {
				m.PutDouble(f.Attr, *p)
			}
		case KindSeq:
			if n := *f.Seq(r); n != 0 {
				m.PutInt(f.Attr, n)
			}
		}
	}
}

func putStrings(m pcommon.Map, k string, v []string) {
	s := m.PutEmptySlice(k)
	s.EnsureCapacity(len(v))
	for _, x := range v {
		s.AppendEmpty().SetStr(x)
	}
}

func putInt(m pcommon.Map, k string, v *int64) {
	if v != nil {
		m.PutInt(k, *v)
	}
}

// FromLogRecord rebuilds the canonical record from a log record the governance processor stamped. metadata is
// every other attribute of the record (except ContentKeys), the resource attributes under "resource", and the
// extra stamped facts. It fails when the record was not stamped or a stamped value is malformed; the caller
// reports and skips that record.
func FromLogRecord(res pcommon.Resource, lr plog.LogRecord) (Record, error) {
	attrs := lr.Attributes()
	var r Record
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	r.ID = str(AttrID)
	if r.ID == "" {
		return Record{}, fmt.Errorf("log record has no %s attribute: it did not pass through the governance processor", AttrID)
	}
	for i := range Fields {
		f := &Fields[i]
		if f.Attr == "" || f.StampOnly || i == fieldID {
			continue
		}
		switch f.Kind {
		case KindText, KindUUID:
			*f.Text(&r) = str(f.Attr)
		case KindTime:
			t, err := time.Parse(time.RFC3339Nano, str(f.Attr))
			if err != nil {
				if i == fieldTimestamp {
					return Record{}, fmt.Errorf("record %s: %w: %w", r.ID, ErrBadTimestamp, err)
				}
				return Record{}, fmt.Errorf("record %s: bad %s: %w", r.ID, f.Attr, err)
			}
			*f.Time(&r) = t
		case KindJSON:
			if s := str(f.Attr); s != "" {
				if err := f.JSON.Decode(&r, s); err != nil {
					return Record{}, fmt.Errorf("record %s: bad %s: %w", r.ID, f.Attr, err)
				}
			}
		case KindStringsJSON, KindList:
			*f.List(&r) = getStrings(attrs, f.Attr)
		case KindInt:
			*f.Int(&r) = getInt(attrs, f.Attr)
		case KindFloat:
			if v, ok := attrs.Get(f.Attr); ok && v.Type() == pcommon.ValueTypeDouble {
				c := v.Double()
				*f.Float(&r) = &c
			}
		case KindSeq:
			if v, ok := attrs.Get(f.Attr); ok {
				*f.Seq(&r) = v.Int()
			}
		}
	}
	// trace_id and span_id are the log record's own ids.
	if tid := lr.TraceID(); !tid.IsEmpty() {
		r.TraceID = tid.String()
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		r.SpanID = sid.String()
	}

	md := make(map[string]any, max(attrs.Len()-MaxStampedAttributes, 0))
	for k, v := range attrs.All() {
		if strings.HasPrefix(k, AttrPrefix) || ContentKeys[k] {
			continue
		}
		md[k] = jsonSafe(v.AsRaw())
	}
	for i := range Fields {
		if f := &Fields[i]; f.Kind == KindExtra && f.MetadataKey != "" {
			if v := str(f.Attr); v != "" {
				md[f.MetadataKey] = v
			}
		}
	}
	if res.Attributes().Len() > 0 {
		md["resource"] = jsonSafe(res.Attributes().AsRaw())
	}
	r.Metadata = md
	return r, r.Validate()
}

// jsonSafe replaces what JSON cannot hold (NaN and infinite doubles, which a payload may carry) with their names,
// so encoding metadata never fails.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e)
		}
	}
	return v
}

func getStrings(m pcommon.Map, k string) []string {
	v, ok := m.Get(k)
	if !ok || v.Type() != pcommon.ValueTypeSlice {
		return []string{}
	}
	s := v.Slice()
	out := make([]string, s.Len())
	for i := range s.Len() {
		out[i] = s.At(i).AsString()
	}
	return out
}

func getInt(m pcommon.Map, k string) *int64 {
	v, ok := m.Get(k)
	if !ok || v.Type() != pcommon.ValueTypeInt {
		return nil
	}
	x := v.Int()
	return &x
}
