package audit

import (
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The Claude Code and Cowork events with a dedicated mapping (docs/ARCHITECTURE.md §5). Every other event is still
// recorded, with its attributes in metadata.
const (
	EventUserPrompt        = "user_prompt"
	EventAssistantResponse = "assistant_response"
	EventToolDecision      = "tool_decision"
	EventToolResult        = "tool_result"
	EventAPIRequest        = "api_request"
	EventAPIError          = "api_error"
)

// queryKeys and responseKeys name, per event, the attributes whose first present value is the query / the
// response_sample. "" is the default for events without a mapping of their own (SDKs and gateways).
var (
	queryKeys = map[string][]string{
		EventUserPrompt:   {"prompt", "prompt_text"},
		EventToolDecision: {"tool_parameters", "tool_input"},
		EventToolResult:   {"tool_input", "tool_parameters"},
		"":                {"prompt", "query", "input"},
	}
	responseKeys = map[string][]string{
		EventAssistantResponse: {"response"},
		EventAPIError:          {"error"},
		"":                     {"response", "output"},
	}
)

func keysFor(table map[string][]string, event string) []string {
	if k, ok := table[event]; ok {
		return k
	}
	switch event {
	case EventAPIRequest, EventToolDecision, EventToolResult, EventUserPrompt, EventAssistantResponse, EventAPIError:
		return nil
	}
	return table[""]
}

// QueryKey returns the attribute key whose value is the record's query, or "" when there is none.
func QueryKey(event string, attrs pcommon.Map) string {
	return firstPresent(attrs, keysFor(queryKeys, event))
}

// ResponseKey returns the attribute key whose value is the record's response_sample, or "".
func ResponseKey(event string, attrs pcommon.Map) string {
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

// MapUsage fills the identifier, model, tool and usage columns of r from a record's (masked) attributes, coercing
// mixed value types (Claude Code sends duration_ms as an int on api_request and as a string on tool_result). A value
// that cannot be coerced leaves its column NULL; the value itself stays in metadata. Identifier columns take only
// identifier-shaped strings (IsIdentifier); the columns of present values that are not are returned as withheld.
func MapUsage(event string, attrs pcommon.Map, r *Record) (withheld []string) {
	ident := func(col string, keys ...string) string {
		for _, k := range keys {
			if v, ok := Ident(attrs, k); v != "" {
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
	if r.Provider == "" && r.Model != "" && (r.Plane == PlaneClaudeCode || r.Plane == PlaneCowork || r.Plane == PlaneClaudeDesktop) {
		r.Provider = "anthropic"
	}
	r.ResponseTimeMS = Int(attrs, "duration_ms")
	r.InputTokens = Int(attrs, "input_tokens")
	r.OutputTokens = Int(attrs, "output_tokens")
	if r.InputTokens != nil || r.OutputTokens != nil {
		var total int64
		if r.InputTokens != nil {
			total += *r.InputTokens
		}
		if r.OutputTokens != nil {
			total += *r.OutputTokens
		}
		r.TokensUsed = &total
	}
	r.Cost = Float(attrs, "cost_usd")
	if r.Cost == nil {
		if micros := Int(attrs, "cost_usd_micros"); micros != nil {
			c := float64(*micros) / 1e6
			r.Cost = &c
		}
	}
	return withheld
}

// Ident reads an attribute for an identifier column: its value when it is an identifier-shaped string
// (IsIdentifier; a masked value never is), else "". ok is false when the attribute holds something that is not
// (a non-identifier string, a map, a list, bytes), which the caller withholds and counts; an absent or empty
// attribute, or a number (a numeric id), is ok.
func Ident(attrs pcommon.Map, k string) (value string, ok bool) {
	v, present := attrs.Get(k)
	if !present {
		return "", true
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		if s == "" || IsIdentifier(s) {
			return s, true
		}
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10), true
	case pcommon.ValueTypeEmpty:
		return "", true
	}
	return "", false
}

// Str returns an attribute as a string ("" when absent).
func Str(attrs pcommon.Map, k string) string {
	if v, ok := attrs.Get(k); ok {
		return v.AsString()
	}
	return ""
}

// Int coerces an attribute to an integer: ints as they are, integral doubles, and decimal strings. It returns nil
// when the attribute is absent or not a number.
func Int(attrs pcommon.Map, k string) *int64 {
	v, ok := attrs.Get(k)
	if !ok {
		return nil
	}
	var x int64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		x = v.Int()
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if math.IsNaN(d) || math.IsInf(d, 0) || d > math.MaxInt64 || d < math.MinInt64 {
			return nil
		}
		x = int64(math.Round(d))
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
				return nil
			}
			n = int64(math.Round(f))
		}
		x = n
	default:
		return nil
	}
	return &x
}

// Float coerces an attribute to a float: doubles, ints and decimal strings; nil when absent, not a number, NaN or
// infinite.
func Float(attrs pcommon.Map, k string) *float64 {
	v, ok := attrs.Get(k)
	if !ok {
		return nil
	}
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeStr:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.Str()), 64); err != nil {
			return nil
		}
	default:
		return nil
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// Bool coerces an attribute to a bool: bools, and the strings true/false/1/0 (any case).
func Bool(attrs pcommon.Map, k string) (value, ok bool) {
	v, present := attrs.Get(k)
	if !present {
		return false, false
	}
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return v.Bool(), true
	case pcommon.ValueTypeStr:
		b, err := strconv.ParseBool(strings.TrimSpace(v.Str()))
		return b, err == nil
	case pcommon.ValueTypeInt:
		return v.Int() != 0, true
	}
	return false, false
}

// Flags derives compliance_flags from the PII types found.
func Flags(piiTypes []string) ComplianceFlags {
	var f ComplianceFlags
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

// Metrics derives security_metrics from the verdict, the top policy's severity and the content size.
func Metrics(v Verdict, severity string, contentBytes int) SecurityMetrics {
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
	return SecurityMetrics{RiskScore: score, QueryComplexity: complexity}
}
