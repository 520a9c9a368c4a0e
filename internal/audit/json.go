package audit

import (
	"encoding/json"
	"strconv"
	"sync"
)

// Hand-written encoders for the JSON columns stamped on every record: encoding/json's reflection costs more than
// the rest of the record's stamping. The output is identical to json.Marshal (tested), so readers may use either.

// AppendJSON appends d as JSON to b.
func (d PolicyDetails) AppendJSON(b []byte) []byte {
	b = append(b, `{"evaluated":[`...)
	for i, r := range d.Evaluated {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, r.ID)
		b = append(b, `,"matched":`...)
		b = strconv.AppendBool(b, r.Matched)
		if r.Verdict != "" {
			b = append(b, `,"verdict":`...)
			b = appendString(b, string(r.Verdict))
		}
		if r.Severity != "" {
			b = append(b, `,"severity":`...)
			b = appendString(b, r.Severity)
		}
		if r.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendString(b, r.Reason)
		}
		if r.Error {
			b = append(b, `,"error":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"matched":`...)
	b = appendStrings(b, d.Matched)
	b = append(b, `,"reasons":`...)
	b = appendStrings(b, d.Reasons)
	if d.TopPolicy != "" {
		b = append(b, `,"top_policy":`...)
		b = appendString(b, d.TopPolicy)
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string; values that need escaping (rare here: ids, verdicts, configured
// reasons) go through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// flagsJSON caches the 32 possible compliance_flags encodings.
var flagsJSON sync.Map // ComplianceFlags -> string

func (f ComplianceFlags) jsonString() string {
	if s, ok := flagsJSON.Load(f); ok {
		return s.(string)
	}
	s := string(mustJSON(f))
	flagsJSON.Store(f, s)
	return s
}

func (m SecurityMetrics) jsonString() string {
	b := make([]byte, 0, 56)
	b = append(b, `{"risk_score":`...)
	b = strconv.AppendInt(b, int64(m.RiskScore), 10)
	b = append(b, `,"query_complexity":`...)
	b = appendString(b, m.QueryComplexity)
	return string(append(b, '}'))
}
