package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Verdict is the policy decision of a record; the Postgres column has a check constraint on this set.
type Verdict string

// The verdicts, see docs/ARCHITECTURE.md §6.
const (
	VerdictAllowed       Verdict = "allowed"
	VerdictRedacted      Verdict = "redacted"
	VerdictNeedsApproval Verdict = "needs_approval"
	VerdictBlocked       Verdict = "blocked"
	VerdictError         Verdict = "error"
)

// Verdicts lists every verdict from the weakest to the strongest.
var Verdicts = []Verdict{VerdictAllowed, VerdictRedacted, VerdictNeedsApproval, VerdictBlocked, VerdictError}

// Rank orders verdicts by precedence: error > blocked > needs_approval > redacted > allowed. An unknown verdict
// ranks -1.
func (v Verdict) Rank() int {
	switch v {
	case VerdictAllowed:
		return 0
	case VerdictRedacted:
		return 1
	case VerdictNeedsApproval:
		return 2
	case VerdictBlocked:
		return 3
	case VerdictError:
		return 4
	}
	return -1
}

// Valid reports whether v is one of the five verdicts.
func (v Verdict) Valid() bool { return v.Rank() >= 0 }

// Stronger returns the verdict with the higher precedence.
func Stronger(a, b Verdict) Verdict {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// Identity sources.
const (
	IdentityLicense  = "license"
	IdentityHeader   = "header"
	IdentityFallback = "fallback"
)

// ObligationRedactPII is the obligation attached to a record whose content was masked.
const ObligationRedactPII = "redact_pii"

// PolicyResult is one evaluated policy in policy_details.
type PolicyResult struct {
	ID       string  `json:"id"`
	Matched  bool    `json:"matched"`
	Verdict  Verdict `json:"verdict,omitempty"`
	Severity string  `json:"severity,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	// Error is set when the policy could not be evaluated on this record (it then did not match).
	Error bool `json:"error,omitempty"`
}

// PolicyDetails is the policy_details column: every policy evaluated, which matched and why, and the top policy
// (the matched policy with the strongest verdict, then the highest severity, then the first configured).
type PolicyDetails struct {
	Evaluated []PolicyResult `json:"evaluated"`
	Matched   []string       `json:"matched"`
	Reasons   []string       `json:"reasons"`
	TopPolicy string         `json:"top_policy,omitempty"`
}

// Record is the canonical audit record (docs/ARCHITECTURE.md §5). The governance processor builds it; the govcol
// exporters read it back from the log record with FromLogRecord; the Postgres columns mirror it. Numbers that were
// not measured are nil, never a fabricated 0.
type Record struct {
	ID         string    `json:"id"`
	DecisionID string    `json:"decision_id"`
	Timestamp  time.Time `json:"timestamp"`
	ReceivedAt time.Time `json:"received_at"`

	RequestID     string `json:"request_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	TraceID       string `json:"trace_id,omitempty"`
	SpanID        string `json:"span_id,omitempty"`

	RequestType string `json:"request_type"`
	Plane       Plane  `json:"plane"`
	Origin      Origin `json:"origin"`

	OrgID          string `json:"org_id"`
	TenantID       string `json:"tenant_id"`
	ClientID       string `json:"client_id"`
	UserEmail      string `json:"user_email"`
	IdentitySource string `json:"identity_source"`
	UserID         string `json:"user_id,omitempty"`
	SessionID      string `json:"session_id,omitempty"`

	PolicyDecision Verdict       `json:"policy_decision"`
	PolicyDetails  PolicyDetails `json:"policy_details"`
	Obligations    []string      `json:"obligations"`
	PIITypes       []string      `json:"pii_types"`
	RedactedFields []string      `json:"redacted_fields"`

	Query          string `json:"query,omitempty"`
	ResponseSample string `json:"response_sample,omitempty"`
	QueryHash      string `json:"query_hash,omitempty"`

	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
	ToolName string `json:"tool_name,omitempty"`

	ResponseTimeMS *int64   `json:"response_time_ms"`
	InputTokens    *int64   `json:"input_tokens"`
	OutputTokens   *int64   `json:"output_tokens"`
	TokensUsed     *int64   `json:"tokens_used"`
	Cost           *float64 `json:"cost"`

	ComplianceFlags ComplianceFlags `json:"compliance_flags"`
	SecurityMetrics SecurityMetrics `json:"security_metrics"`
	Metadata        map[string]any  `json:"metadata"`
	// metadataJSON is the metadata column as FromLogRecordForStore encoded it, when Metadata is nil.
	metadataJSON []byte

	ChainID    string `json:"chain_id,omitempty"`
	ChainSeq   int64  `json:"chain_seq,omitempty"`
	PrevHash   string `json:"prev_hash,omitempty"`
	RecordHash string `json:"record_hash,omitempty"`
}

// ColumnList is Columns as a quoted SQL column list, each name prefixed (e.g. "a." or "").
func ColumnList(prefix string) string {
	var b strings.Builder
	for i, c := range Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + `"` + c + `"`)
	}
	return b.String()
}

// ComplianceFlags is the compliance_flags column, derived from the PII types found (see Flags).
type ComplianceFlags struct {
	PIIAccess      bool `json:"pii_access"`
	GDPRApplicable bool `json:"gdpr_applicable"`
	HIPAARelevant  bool `json:"hipaa_relevant"`
	PCIRelevant    bool `json:"pci_relevant"`
	SecretExposure bool `json:"secret_exposure"`
}

// SecurityMetrics is the security_metrics column.
type SecurityMetrics struct {
	// RiskScore is 0-100: the verdict's base score raised by the top policy's severity.
	RiskScore int `json:"risk_score"`
	// QueryComplexity is low (< 200 bytes of content), medium (< 2000) or high.
	QueryComplexity string `json:"query_complexity"`
}

// Validate reports the first problem that would make an exporter refuse the record permanently.
func (r *Record) Validate() error {
	switch {
	case r.ID == "":
		return errors.New("audit record: missing id")
	case r.DecisionID == "":
		return errors.New("audit record: missing decision_id")
	case r.TenantID == "":
		return errors.New("audit record: missing tenant_id")
	case !r.PolicyDecision.Valid():
		return fmt.Errorf("audit record: invalid policy_decision (%d bytes; not one of the five verdicts)", len(r.PolicyDecision))
	case r.Timestamp.IsZero():
		return errors.New("audit record: missing timestamp")
	}
	return nil
}

// The JSON columns, encoded by the same code that stamps them on the record (json.go), so exporters write exactly
// what the processor built.

// PolicyDetailsJSON returns policy_details as JSON (lists are [] when empty, never null).
func (r *Record) PolicyDetailsJSON() []byte {
	if b := internedPolicyDetailsJSON(&r.PolicyDetails); b != nil {
		return b
	}
	return r.PolicyDetails.AppendJSON(make([]byte, 0, 64+96*len(r.PolicyDetails.Evaluated)))
}

// ObligationsJSON returns obligations as a JSON list ([] when empty).
func (r *Record) ObligationsJSON() []byte {
	return appendStrings(make([]byte, 0, 2+16*len(r.Obligations)), r.Obligations)
}

// ComplianceFlagsJSON returns compliance_flags as JSON.
func (r *Record) ComplianceFlagsJSON() []byte { return []byte(r.ComplianceFlags.jsonString()) }

// SecurityMetricsJSON returns security_metrics as JSON.
func (r *Record) SecurityMetricsJSON() []byte { return []byte(r.SecurityMetrics.jsonString()) }

// MetadataJSON returns metadata as JSON ({} when empty): the encoding FromLogRecordForStore made when Metadata is
// nil (the caller does not change it), else Metadata encoded.
func (r *Record) MetadataJSON() []byte {
	if r.Metadata == nil && r.metadataJSON != nil {
		return r.metadataJSON
	}
	if len(r.Metadata) == 0 {
		return []byte("{}")
	}
	return mustJSON(r.Metadata)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value here is built from strings, numbers, bools, slices and maps of them; a failure is a bug.
		panic("audit: " + err.Error())
	}
	return b
}

// recordJSON is Record without its MarshalJSON.
type recordJSON Record

// MarshalJSON encodes r as encoding/json would, except that metadata encoded by FromLogRecordForStore (Metadata
// nil) is written as that encoding: a record written to a file (the Postgres exporter's fallback) keeps its
// metadata. HTML escaping is left to the caller's encoder, as for a Record without this method.
func (r Record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*recordJSON)(&r)); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if r.Metadata != nil || r.metadataJSON == nil {
		return out, nil
	}
	// Metadata (nil) was written as null where the encoding goes. No string value holds this sequence (a quote in
	// one is escaped), so the first one is the member.
	const null = `,"metadata":null`
	i := bytes.Index(out, []byte(null))
	if i < 0 {
		return nil, errors.New("audit: no metadata member in an encoded record")
	}
	j := i + len(null) - len("null")
	return append(out[:j:j], append(r.metadataJSON, out[i+len(null):]...)...), nil
}
