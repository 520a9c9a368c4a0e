package audit

import (
	"encoding/json"
	"strconv"
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

// flagsJSON holds the 32 possible compliance_flags encodings, indexed by flagsIndex.
var flagsJSON = func() (out [32]string) {
	for i := range out {
		f := ComplianceFlags{PIIAccess: i&1 != 0, GDPRApplicable: i&2 != 0, HIPAARelevant: i&4 != 0, PCIRelevant: i&8 != 0, SecretExposure: i&16 != 0}
		out[i] = string(mustJSON(f))
	}
	return out
}()

func (f ComplianceFlags) flagsIndex() int {
	i := 0
	for j, b := range [...]bool{f.PIIAccess, f.GDPRApplicable, f.HIPAARelevant, f.PCIRelevant, f.SecretExposure} {
		if b {
			i |= 1 << j
		}
	}
	return i
}

func (f ComplianceFlags) jsonString() string { return flagsJSON[f.flagsIndex()] }

func (m SecurityMetrics) appendJSON(b []byte) []byte {
	b = append(b, `{"risk_score":`...)
	b = strconv.AppendInt(b, int64(m.RiskScore), 10)
	b = append(b, `,"query_complexity":`...)
	b = appendString(b, m.QueryComplexity)
	return append(b, '}')
}

func (m SecurityMetrics) jsonString() string { return string(m.appendJSON(make([]byte, 0, 56))) }
