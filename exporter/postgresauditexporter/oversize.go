package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"fmt"

	"github.com/govcol/govcol/internal/audit"
)

// oversizeLetter is the dead letter of a record CheckCaps refused: the error names the column and the sizes, and the
// record kept for the operator has every over-cap value withheld. A value over its cap is exactly what the governance
// processor should never have let through (an allow-listed identifier is not masked, only capped), so it may be raw
// content: the dead-letter file keeps its size, never its bytes.
func oversizeLetter(rec audit.Record, capErr error) deadLetter {
	return deadLetter{Reason: reasonOversize, Error: capErr.Error(), Record: withholdOversize(rec)}
}

// withheld replaces a value over its cap in a dead letter.
func withheld(n, limit int) string {
	return fmt.Sprintf("[withheld: %d bytes, over the cap of %d]", n, limit)
}

// withholdOversize returns a copy of rec in which every value over its cap in audit.ColumnCaps (and every pii_types
// or redacted_fields element over its cap) is replaced by a marker naming its size; rec itself is not changed. A
// record within its caps is returned as it is.
func withholdOversize(rec audit.Record) audit.Record {
	if rec.CheckCaps() == nil {
		return rec
	}
	text := func(col string, p *string) {
		if limit := audit.ColumnCaps[col]; len(*p) > limit {
			*p = withheld(len(*p), limit)
		}
	}
	for _, c := range [...]struct {
		col string
		p   *string
	}{
		{"id", &rec.ID}, {"decision_id", &rec.DecisionID},
		{"request_id", &rec.RequestID}, {"correlation_id", &rec.CorrelationID},
		{"trace_id", &rec.TraceID}, {"span_id", &rec.SpanID}, {"request_type", &rec.RequestType},
		{"org_id", &rec.OrgID}, {"tenant_id", &rec.TenantID}, {"client_id", &rec.ClientID},
		{"user_email", &rec.UserEmail}, {"identity_source", &rec.IdentitySource},
		{"user_id", &rec.UserID}, {"session_id", &rec.SessionID},
		{"query", &rec.Query}, {"response_sample", &rec.ResponseSample}, {"query_hash", &rec.QueryHash},
		{"provider", &rec.Provider}, {"model", &rec.Model}, {"tool_name", &rec.ToolName},
		{"chain_id", &rec.ChainID}, {"prev_hash", &rec.PrevHash}, {"record_hash", &rec.RecordHash},
	} {
		text(c.col, c.p)
	}
	if limit := audit.ColumnCaps["plane"]; len(rec.Plane) > limit {
		rec.Plane = audit.Plane(withheld(len(rec.Plane), limit))
	}
	if limit := audit.ColumnCaps["origin"]; len(rec.Origin) > limit {
		rec.Origin = audit.Origin(withheld(len(rec.Origin), limit))
	}
	rec.PIITypes = withholdElements(rec.PIITypes, audit.MaxIdentifierBytes)
	rec.RedactedFields = withholdElements(rec.RedactedFields, audit.MaxFieldPathBytes)
	if n, limit := len(rec.PolicyDetailsJSON()), audit.ColumnCaps["policy_details"]; n > limit {
		rec.PolicyDetails = audit.PolicyDetails{Reasons: []string{"policy_details " + withheld(n, limit)}}
	}
	if n, limit := len(rec.MetadataJSON()), audit.ColumnCaps["metadata"]; n > limit {
		rec.Metadata = map[string]any{"withheld": "metadata " + withheld(n, limit)}
	}
	return rec
}

// withholdElements returns ss with every element over limit replaced by a marker (a copy when one is).
func withholdElements(ss []string, limit int) []string {
	var out []string
	for i, s := range ss {
		if len(s) > limit {
			if out == nil {
				out = append([]string(nil), ss...)
			}
			out[i] = withheld(len(s), limit)
		}
	}
	if out == nil {
		return ss
	}
	return out
}
