package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// SchemaVersion of the decision body. Version 2 added the SIEM recipe's names (decision, policy_id,
// tool_signature, policy_details.context.x_session_id) and event; every version-1 field is kept.
const SchemaVersion = 2

// Decision is the body of one object (schema version 2, documented in the README). Content fields hold the masked
// values only: the governance processor masked them before any exporter saw them.
type Decision struct {
	SchemaVersion int    `json:"schema_version"`
	DecisionID    string `json:"decision_id"`
	ID            string `json:"id"`

	// The SIEM correlation recipe's names: decision (the canonical verdict), policy_id (the deciding policy),
	// tool_signature (target system and operation, dot-separated) and policy_details.context.x_session_id.
	Decision      string               `json:"decision"`
	PolicyID      *string              `json:"policy_id"`
	ToolSignature *string              `json:"tool_signature"`
	PolicyDetails DecisionPolicyDetail `json:"policy_details"`
	Event         string               `json:"event,omitempty"`
	// Timestamp is the event time, RFC 3339 UTC; TimestampRaw keeps an unparseable one as received.
	Timestamp    *time.Time `json:"timestamp"`
	TimestampRaw string     `json:"timestamp_raw,omitempty"`
	ReceivedAt   time.Time  `json:"received_at"`

	OrgID          string `json:"org_id"`
	TenantID       string `json:"tenant_id"`
	ClientID       string `json:"client_id"`
	UserEmail      string `json:"user_email"`
	IdentitySource string `json:"identity_source"`
	SessionID      string `json:"session_id,omitempty"`
	Origin         string `json:"origin"`
	Plane          string `json:"plane"`
	RequestType    string `json:"request_type"`

	Verdict     string   `json:"verdict"`
	PolicyIDs   []string `json:"policy_ids"`
	TopPolicy   string   `json:"top_policy,omitempty"`
	Reasons     []string `json:"reasons"`
	Obligations []string `json:"obligations"`
	PIITypes    []string `json:"pii_types"`

	RequestID     string `json:"request_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	TraceID       string `json:"trace_id,omitempty"`
	SpanID        string `json:"span_id,omitempty"`

	ToolName     string   `json:"tool_name,omitempty"`
	Provider     string   `json:"provider,omitempty"`
	Model        string   `json:"model,omitempty"`
	LatencyMS    *int64   `json:"latency_ms"`
	InputTokens  *int64   `json:"input_tokens"`
	OutputTokens *int64   `json:"output_tokens"`
	TokensUsed   *int64   `json:"tokens_used"`
	Cost         *float64 `json:"cost"`

	Query          string `json:"query,omitempty"`
	ResponseSample string `json:"response_sample,omitempty"`
	QueryHash      string `json:"query_hash,omitempty"`

	RecordHash string `json:"record_hash,omitempty"`
	ChainID    string `json:"chain_id,omitempty"`
	ChainSeq   int64  `json:"chain_seq,omitempty"`
	PrevHash   string `json:"prev_hash,omitempty"`
}

// decisionKeys documents where each entry of the audit record's field table (audit.Fields, named by its column, or
// by its attribute when it is not a column of its own) appears in a Decision: the JSON keys (dotted for nested
// members) it fills. Decision is written by hand, not generated from the table, because its names are published
// (schema version 2, the SIEM recipe's names); TestDecisionCoversFieldTable fails when a table entry is neither here
// nor in decisionExcluded, so a new column is a decision to make, not one to forget.
var decisionKeys = map[string][]string{
	"id":                {"id"},
	"decision_id":       {"decision_id"},
	"timestamp":         {"timestamp", "timestamp_raw"},
	"received_at":       {"received_at"},
	"request_id":        {"request_id"},
	"correlation_id":    {"correlation_id"},
	"trace_id":          {"trace_id"},
	"span_id":           {"span_id"},
	"request_type":      {"request_type"},
	audit.AttrEvent:     {"event"}, // from metadata.event_name, where the record keeps it
	"plane":             {"plane"},
	"origin":            {"origin"},
	"org_id":            {"org_id"},
	"tenant_id":         {"tenant_id"},
	"client_id":         {"client_id"},
	"user_email":        {"user_email"},
	"identity_source":   {"identity_source"},
	"session_id":        {"session_id", "policy_details.context.x_session_id"},
	"policy_decision":   {"decision", "verdict"},
	"policy_details":    {"policy_details.matched", "policy_details.top_policy", "policy_ids", "top_policy", "policy_id", "reasons"},
	audit.AttrTopPolicy: {"top_policy", "policy_id", "policy_details.top_policy"},
	"obligations":       {"obligations"},
	"pii_types":         {"pii_types"},
	"query":             {"query"},
	"response_sample":   {"response_sample"},
	"query_hash":        {"query_hash"},
	"provider":          {"provider"},
	"model":             {"model"},
	"tool_name":         {"tool_name", "tool_signature"},
	"response_time_ms":  {"latency_ms"},
	"input_tokens":      {"input_tokens"},
	"output_tokens":     {"output_tokens"},
	"tokens_used":       {"tokens_used"},
	"cost":              {"cost"},
	"chain_id":          {"chain_id"},
	"chain_seq":         {"chain_seq"},
	"prev_hash":         {"prev_hash"},
	"record_hash":       {"record_hash"},
}

// decisionExcluded are the field table's entries a Decision leaves out on purpose, with the reason. They stay in
// audit_logs (and, for the attribute-only entries, in its metadata column).
var decisionExcluded = map[string]string{
	audit.AttrLicenseID:      "the license that authenticated the sender: a credential's identity, not part of the decision; org_id, tenant_id and client_id carry whose decision it is",
	audit.AttrTier:           "the license tier: a commercial attribute of the sender, not of the decision",
	audit.AttrAttemptedEmail: "a refused identity claim (PII the sender asserted but could not prove); user_email and identity_source carry the identity used",
	audit.AttrPolicyLabel:    "the deciding policy's display label; policy_id carries its id, the join key",
	"user_id":                "schema v2 identifies the developer by user_email (with identity_source); user_id stays in audit_logs",
	"redacted_fields":        "paths inside the request, an internal detail of masking; pii_types says what was masked",
	"compliance_flags":       "not in schema v2; audit_logs keeps it",
	"security_metrics":       "not in schema v2; audit_logs keeps it",
	"metadata":               "free-form and unbounded (up to audit.MaxJSONColumnBytes); the one member published, the event name, is event",
}

// DecisionPolicyDetail is the recipe's policy_details: the request context (x_session_id) and the matches.
type DecisionPolicyDetail struct {
	Context   DecisionContext `json:"context"`
	Matched   []string        `json:"matched"`
	TopPolicy *string         `json:"top_policy"`
}

// DecisionContext is the request context the recipe reads x_session_id from.
type DecisionContext struct {
	XSessionID *string `json:"x_session_id"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// toolSignature is the recipe's target-system.operation form of a tool name: an MCP tool mcp__<server>__<tool>
// becomes <server>.<tool>; a built-in tool (Bash, Edit, ...) is its name.
func toolSignature(name string) string {
	if rest, ok := strings.CutPrefix(name, "mcp__"); ok && rest != "" {
		return strings.ReplaceAll(rest, "__", ".")
	}
	return name
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// newDecision builds the body of r. A zero timestamp (the record's time was unparseable) is null, with the raw
// value kept.
func newDecision(r *audit.Record, rawTime string) Decision {
	d := Decision{
		SchemaVersion: SchemaVersion, DecisionID: r.DecisionID, ID: r.ID, ReceivedAt: r.ReceivedAt.UTC().Truncate(time.Microsecond),
		Decision: string(r.PolicyDecision), PolicyID: strOrNil(r.PolicyDetails.TopPolicy),
		ToolSignature: strOrNil(toolSignature(r.ToolName)),
		PolicyDetails: DecisionPolicyDetail{Context: DecisionContext{XSessionID: strOrNil(r.SessionID)},
			Matched: nonNil(r.PolicyDetails.Matched), TopPolicy: strOrNil(r.PolicyDetails.TopPolicy)},
		OrgID: r.OrgID, TenantID: r.TenantID, ClientID: r.ClientID, UserEmail: r.UserEmail,
		IdentitySource: r.IdentitySource, SessionID: r.SessionID, Origin: string(r.Origin), Plane: string(r.Plane),
		RequestType: r.RequestType, Verdict: string(r.PolicyDecision), PolicyIDs: nonNil(r.PolicyDetails.Matched),
		TopPolicy: r.PolicyDetails.TopPolicy, Reasons: nonNil(r.PolicyDetails.Reasons),
		Obligations: nonNil(r.Obligations), PIITypes: nonNil(r.PIITypes),
		RequestID: r.RequestID, CorrelationID: r.CorrelationID, TraceID: r.TraceID, SpanID: r.SpanID,
		ToolName: r.ToolName, Provider: r.Provider, Model: r.Model, LatencyMS: r.ResponseTimeMS,
		InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, TokensUsed: r.TokensUsed, Cost: r.Cost,
		Query: r.Query, ResponseSample: r.ResponseSample, QueryHash: r.QueryHash,
		RecordHash: r.RecordHash, ChainID: r.ChainID, ChainSeq: r.ChainSeq, PrevHash: r.PrevHash,
	}
	if ev, ok := r.Metadata["event_name"].(string); ok {
		d.Event = ev
	}
	// Times at Postgres' precision (microseconds), so the reconciler rebuilds the same body from the stored row.
	if !r.Timestamp.IsZero() {
		ts := r.Timestamp.UTC().Truncate(time.Microsecond)
		d.Timestamp = &ts
	} else {
		d.TimestampRaw = rawTime
	}
	return d
}

// objectKey is <prefix>/YYYY/MM/DD/<decision_id>.json from the UTC event time, or <prefix>/unpartitioned/... when
// the time is unknown.
func objectKey(prefix string, d *Decision) string {
	name := d.DecisionID + ".json"
	var path string
	if d.Timestamp == nil {
		path = "unpartitioned/" + name
	} else {
		path = d.Timestamp.UTC().Format("2006/01/02") + "/" + name
	}
	if prefix == "" {
		return path
	}
	return prefix + "/" + path
}

// checkpointKey is <prefix>/checkpoints/<chain_id, path-escaped>/<last_seq, zero-padded>.json.
func checkpointKey(prefix string, c *integrity.Checkpoint) string {
	path := fmt.Sprintf("checkpoints/%s/%020d.json", url.PathEscape(c.ChainID), c.LastSeq)
	if prefix == "" {
		return path
	}
	return prefix + "/" + path
}

func (d *Decision) body() ([]byte, error) { return json.Marshal(d) }

// hourOf is the UTC hour partition of a decision; ok is false when its time is unknown.
func (d *Decision) hourOf() (time.Time, bool) {
	if d.Timestamp == nil {
		return time.Time{}, false
	}
	return d.Timestamp.UTC().Truncate(time.Hour), true
}

// hourPrefix is <prefix>/YYYY/MM/DD/HH/ of the batched layout, or <prefix>/unpartitioned/ when the time is unknown.
func hourPrefix(prefix string, hour time.Time, known bool) string {
	path := "unpartitioned/"
	if known {
		path = hour.UTC().Format("2006/01/02/15") + "/"
	}
	if prefix == "" {
		return path
	}
	return prefix + "/" + path
}

// batchKey is <prefix>/YYYY/MM/DD/HH/<instance>-<seq, 20 digits>.jsonl.gz.
func batchKey(prefix string, hour time.Time, known bool, instance string, seq uint64) string {
	return fmt.Sprintf("%s%s-%020d.jsonl.gz", hourPrefix(prefix, hour, known), instance, seq)
}

// reconcilerBatchKey is <prefix>/YYYY/MM/DD/HH/reconciler-<first decision_id>.jsonl.gz: the reconciler's objects are
// named after their content (the sorted decisions of one hour it found missing), so a repeated pass overwrites.
func reconcilerBatchKey(prefix string, hour time.Time, firstDecisionID string) string {
	return hourPrefix(prefix, hour, true) + reconcilerInstance + "-" + firstDecisionID + ".jsonl.gz"
}

const reconcilerInstance = "reconciler"
