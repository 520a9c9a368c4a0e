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
func (r *Record) CheckCaps() error {
	check := func(col string, n int) error {
		if limit := ColumnCaps[col]; n > limit {
			return fmt.Errorf("audit record: %s is %d bytes, over its cap of %d", col, n, limit)
		}
		return nil
	}
	for _, c := range [...]struct {
		col string
		n   int
	}{
		{"id", len(r.ID)}, {"decision_id", len(r.DecisionID)},
		{"request_id", len(r.RequestID)}, {"correlation_id", len(r.CorrelationID)},
		{"trace_id", len(r.TraceID)}, {"span_id", len(r.SpanID)},
		{"request_type", len(r.RequestType)}, {"plane", len(r.Plane)}, {"origin", len(r.Origin)},
		{"org_id", len(r.OrgID)}, {"tenant_id", len(r.TenantID)}, {"client_id", len(r.ClientID)},
		{"user_email", len(r.UserEmail)}, {"identity_source", len(r.IdentitySource)},
		{"user_id", len(r.UserID)}, {"session_id", len(r.SessionID)},
		{"query", len(r.Query)}, {"response_sample", len(r.ResponseSample)}, {"query_hash", len(r.QueryHash)},
		{"provider", len(r.Provider)}, {"model", len(r.Model)}, {"tool_name", len(r.ToolName)},
		{"chain_id", len(r.ChainID)}, {"prev_hash", len(r.PrevHash)}, {"record_hash", len(r.RecordHash)},
	} {
		if err := check(c.col, c.n); err != nil {
			return err
		}
	}
	// Array elements: pii_types are engine type names, redacted_fields attribute paths (nested keys joined by ".").
	for _, s := range r.PIITypes {
		if len(s) > MaxIdentifierBytes {
			return fmt.Errorf("audit record: a pii_types element is %d bytes, over its cap of %d", len(s), MaxIdentifierBytes)
		}
	}
	for _, s := range r.RedactedFields {
		if len(s) > MaxFieldPathBytes {
			return fmt.Errorf("audit record: a redacted_fields element is %d bytes, over its cap of %d", len(s), MaxFieldPathBytes)
		}
	}
	if n := len(r.PolicyDetailsJSON()); n > MaxJSONColumnBytes {
		return check("policy_details", n)
	}
	if n := len(r.MetadataJSON()); n > MaxJSONColumnBytes {
		return check("metadata", n)
	}
	return nil
}
