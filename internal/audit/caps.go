package audit

import "fmt"

// ColumnCaps is the most bytes each text column of audit_logs may hold. The governance processor builds records
// within these caps (identifiers that do not fit their shape are withheld, content is cut); exporters check them
// before anything reaches Postgres, so an oversize value is a dead letter of its own and never a failed batch
// (Postgres refuses index entries above about 2.7 kB with SQLSTATE 54000). The JSON columns are capped as encoded.
var ColumnCaps = map[string]int{
	"id":              128,
	"decision_id":     36,
	"request_id":      MaxIdentifierBytes,
	"correlation_id":  MaxIdentifierBytes,
	"trace_id":        32,
	"span_id":         16,
	"request_type":    MaxIdentifierBytes,
	"plane":           32,
	"origin":          32,
	"org_id":          MaxIdentifierBytes,
	"tenant_id":       MaxIdentifierBytes,
	"client_id":       MaxIdentifierBytes,
	"user_email":      320, // 254 (RFC 5321) or "client:" + a client id
	"identity_source": 16,
	"user_id":         MaxIdentifierBytes,
	"session_id":      MaxIdentifierBytes,
	"query":           MaxContentColumnBytes,
	"response_sample": MaxContentColumnBytes,
	"query_hash":      128,
	"provider":        MaxIdentifierBytes,
	"model":           MaxIdentifierBytes,
	"tool_name":       MaxIdentifierBytes,
	"policy_details":  MaxJSONColumnBytes,
	"metadata":        MaxJSONColumnBytes,
	"chain_id":        256,
	"prev_hash":       128,
	"record_hash":     128,
}

const (
	// MaxIdentifierBytes caps every identifier column (ids, names, enumerations).
	MaxIdentifierBytes = 128
	// MaxContentColumnBytes caps query and response_sample whatever the processor's max_content_bytes (at most
	// this): 64 KiB plus the truncation marker.
	MaxContentColumnBytes = 64<<10 + 64
	// MaxFieldPathBytes caps one element of redacted_fields (an attribute path).
	MaxFieldPathBytes = 512
	// MaxJSONColumnBytes caps the encoded policy_details and metadata.
	MaxJSONColumnBytes = 1 << 20
)

// CheckCaps reports the first column of r over its cap in ColumnCaps, naming the column and the sizes (never the
// value).
func (r *Record) CheckCaps() (err error) {
	r.overCaps(func(col string, n, limit int, _ func(string)) bool {
		err = fmt.Errorf("audit record: %s is %d bytes, over its cap of %d", col, n, limit)
		return false
	})
	return err
}

// WithholdOverCaps replaces every value of r over its cap (text columns, list elements, JSON columns) with
// marker(size, cap), so that a record refused for its size can be kept for an operator without the value: a value
// over its cap never passed the governance processor's rules, so it may be raw content.
func (r *Record) WithholdOverCaps(marker func(n, limit int) string) {
	r.overCaps(func(_ string, n, limit int, replace func(string)) bool {
		replace(marker(n, limit))
		return true
	})
}

// overCaps calls f for every value of r over its cap, with a function that replaces the value, until f returns
// false. It is the one list of capped fields CheckCaps and WithholdOverCaps share.
func (r *Record) overCaps(f func(col string, n, limit int, replace func(string)) bool) {
	for _, c := range [...]struct {
		col string
		p   *string
	}{
		{"id", &r.ID}, {"decision_id", &r.DecisionID},
		{"request_id", &r.RequestID}, {"correlation_id", &r.CorrelationID},
		{"trace_id", &r.TraceID}, {"span_id", &r.SpanID},
		{"request_type", &r.RequestType}, {"plane", (*string)(&r.Plane)}, {"origin", (*string)(&r.Origin)},
		{"org_id", &r.OrgID}, {"tenant_id", &r.TenantID}, {"client_id", &r.ClientID},
		{"user_email", &r.UserEmail}, {"identity_source", &r.IdentitySource},
		{"user_id", &r.UserID}, {"session_id", &r.SessionID},
		{"query", &r.Query}, {"response_sample", &r.ResponseSample}, {"query_hash", &r.QueryHash},
		{"provider", &r.Provider}, {"model", &r.Model}, {"tool_name", &r.ToolName},
		{"chain_id", &r.ChainID}, {"prev_hash", &r.PrevHash}, {"record_hash", &r.RecordHash},
	} {
		if n, limit := len(*c.p), ColumnCaps[c.col]; n > limit && !f(c.col, n, limit, func(v string) { *c.p = v }) {
			return
		}
	}
	// List elements: pii_types are engine type names, redacted_fields attribute paths (nested keys joined by ".").
	// A list is copied before its first replacement, so a caller's shared backing array is never written.
	for _, l := range [...]struct {
		col   string
		p     *[]string
		limit int
	}{{"pii_types element", &r.PIITypes, MaxIdentifierBytes}, {"redacted_fields element", &r.RedactedFields, MaxFieldPathBytes}} {
		copied := false
		for i, s := range *l.p {
			if len(s) <= l.limit {
				continue
			}
			if !f(l.col, len(s), l.limit, func(v string) {
				if !copied {
					*l.p, copied = append([]string(nil), *l.p...), true
				}
				(*l.p)[i] = v
			}) {
				return
			}
		}
	}
	if n, limit := len(r.PolicyDetailsJSON()), ColumnCaps["policy_details"]; n > limit &&
		!f("policy_details", n, limit, func(v string) { r.PolicyDetails = PolicyDetails{Reasons: []string{"policy_details " + v}} }) {
		return
	}
	if n, limit := len(r.MetadataJSON()), ColumnCaps["metadata"]; n > limit {
		f("metadata", n, limit, func(v string) { r.Metadata = map[string]any{"withheld": "metadata " + v} })
	}
}
