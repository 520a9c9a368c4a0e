package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// Decision is the body of one object (schema version 1, documented in the README). Content fields hold the masked
// values only: the governance processor masked them before any exporter saw them.
type Decision struct {
	SchemaVersion int    `json:"schema_version"`
	DecisionID    string `json:"decision_id"`
	ID            string `json:"id"`
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
		SchemaVersion: 1, DecisionID: r.DecisionID, ID: r.ID, ReceivedAt: r.ReceivedAt.UTC(),
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
	if !r.Timestamp.IsZero() {
		ts := r.Timestamp.UTC()
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
