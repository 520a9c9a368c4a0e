package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/govcol/govcol/internal/audit"
)

// The event mapping: which attributes hold each event's query, response sample, identifiers and usage, and the
// compliance flags and security metrics derived from what masking and the policies found.

// queryKeys and responseKeys name, per event, the attributes whose first present value is the query / the
// response_sample. "" is the default for events without a mapping of their own (SDKs and gateways).
var (
	queryKeys = map[string][]string{
		audit.EventUserPrompt:   {"prompt", "prompt_text"},
		audit.EventToolDecision: {"tool_parameters", "tool_input"},
		audit.EventToolResult:   {"tool_input", "tool_parameters"},
		"":                      {"prompt", "query", "input"},
	}
	responseKeys = map[string][]string{
		audit.EventAssistantResponse: {"response"},
		audit.EventAPIError:          {"error"},
		"":                           {"response", "output"},
	}
)

func keysFor(table map[string][]string, event string) []string {
	if k, ok := table[event]; ok {
		return k
	}
	switch event {
	case audit.EventAPIRequest, audit.EventToolDecision, audit.EventToolResult, audit.EventUserPrompt, audit.EventAssistantResponse, audit.EventAPIError:
		return nil
	}
	return table[""]
}

// queryAttr returns the attribute key whose value is the record's query, or "" when there is none.
func queryAttr(event string, attrs pcommon.Map) string {
	return firstPresent(attrs, keysFor(queryKeys, event))
}

// responseAttr returns the attribute key whose value is the record's response_sample, or "".
func responseAttr(event string, attrs pcommon.Map) string {
	return firstPresent(attrs, keysFor(responseKeys, event))
}

func firstPresent(attrs pcommon.Map, keys []string) string {
	for _, k := range keys {
		if v, ok := attrs.Get(k); ok && v.AsString() != "" {
			return k
		}
	}
	return ""
}

// mapUsage fills the identifier, model, tool and usage columns of r from a record's (masked) attributes, coercing
// mixed value types (Claude Code sends duration_ms as an int on api_request and as a string on tool_result). A value
// that cannot be coerced leaves its column NULL; the value itself stays in metadata. Identifier columns take only
// identifier-shaped strings (IsIdentifier); the columns of present values that are not are returned as withheld.
//
// The usage numbers are kept in u, which r's pointers alias (the log path passes the record scratch's, which lives
// until the record is stamped; nil allocates them).
func mapUsage(event string, attrs pcommon.Map, r *audit.Record, u *usage) (withheld []string) {
	if u == nil {
		u = new(usage)
	}
	ident := func(col string, keys ...string) string {
		for _, k := range keys {
			if v, ok := identAttr(attrs, k); v != "" {
				return v
			} else if !ok {
				withheld = append(withheld, col)
				return ""
			}
		}
		return ""
	}
	r.RequestID = ident("request_id", "request_id")
	r.CorrelationID = ident("correlation_id", "prompt.id")
	r.Model = ident("model", "model", "gen_ai.request.model")
	r.ToolName = ident("tool_name", "tool_name", "gen_ai.tool.name")
	r.Provider = ident("provider", "gen_ai.provider.name")
	if r.Provider == "" && r.Model != "" && (r.Plane == audit.PlaneClaudeCode || r.Plane == audit.PlaneCowork || r.Plane == audit.PlaneClaudeDesktop) {
		r.Provider = "anthropic"
	}
	r.ResponseTimeMS = u.int(0, attrs, "duration_ms")
	r.InputTokens = u.int(1, attrs, "input_tokens")
	r.OutputTokens = u.int(2, attrs, "output_tokens")
	r.TokensUsed = nil
	if r.InputTokens != nil || r.OutputTokens != nil {
		var total int64
		if r.InputTokens != nil {
			total += *r.InputTokens
		}
		if r.OutputTokens != nil {
			total += *r.OutputTokens
		}
		u.ints[3] = total
		r.TokensUsed = &u.ints[3]
	}
	r.Cost = nil
	if c, ok := audit.FloatValue(attrs, "cost_usd"); ok {
		u.cost, r.Cost = c, &u.cost
	} else if micros, ok := audit.IntValue(attrs, "cost_usd_micros"); ok {
		u.cost, r.Cost = float64(micros)/1e6, &u.cost
	}
	return withheld
}

// usage is storage for a record's usage numbers (mapUsage).
type usage struct {
	ints [4]int64 // response time, input, output and total tokens
	cost float64
}

// int reads attribute k as audit.Int does, into u.ints[i].
func (u *usage) int(i int, attrs pcommon.Map, k string) *int64 {
	x, ok := audit.IntValue(attrs, k)
	if !ok {
		return nil
	}
	u.ints[i] = x
	return &u.ints[i]
}

// identAttr reads an attribute for an identifier column: its value when it is an identifier-shaped string
// (IsIdentifier; a masked value never is), else "". ok is false when the attribute holds something that is not
// (a non-identifier string, a map, a list, bytes), which the caller withholds and counts; an absent or empty
// attribute, or a number (a numeric id), is ok.
func identAttr(attrs pcommon.Map, k string) (value string, ok bool) {
	v, present := attrs.Get(k)
	if !present {
		return "", true
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		if s == "" || audit.IsIdentifier(s) {
			return s, true
		}
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10), true
	case pcommon.ValueTypeEmpty:
		return "", true
	}
	return "", false
}

// complianceFlags derives compliance_flags from the PII types found.
func complianceFlags(piiTypes []string) audit.ComplianceFlags {
	var f audit.ComplianceFlags
	for _, t := range piiTypes {
		f.PIIAccess = true
		switch t {
		case "email", "phone", "iban", "ip_address", "aadhaar", "pan", "nik", "upi_vpa", "npwp":
			f.GDPRApplicable = true
		case "ssn":
			f.GDPRApplicable = true
			f.HIPAARelevant = true
		case "credit_card":
			f.PCIRelevant = true
		default:
			f.SecretExposure = true
		}
	}
	return f
}

// securityMetrics derives security_metrics from the verdict, the top policy's severity and the content size.
func securityMetrics(v audit.Verdict, severity string, contentBytes int) audit.SecurityMetrics {
	score := [...]int{0, 20, 50, 70, 60}[max(v.Rank(), 0)]
	switch severity {
	case "critical":
		score = max(score, 95)
	case "high":
		score = max(score, 80)
	case "medium":
		score = max(score, 50)
	case "low":
		score = max(score, 25)
	}
	complexity := "low"
	switch {
	case contentBytes >= 2000:
		complexity = "high"
	case contentBytes >= 200:
		complexity = "medium"
	}
	return audit.SecurityMetrics{RiskScore: score, QueryComplexity: complexity}
}
