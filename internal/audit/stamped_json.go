package audit

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// The compact forms of the JSON columns in audit.record (JSONColumn.Compact / Expand). They hold the fields of the
// Go value, so Expand then Encode gives what Encode gives for the record stamped: the exporters store, and the
// chain hashes, exactly that. policy_details as JSON is most of a record's bytes otherwise.

// policy_details: the evaluated count, then per result its id, a flags byte (1 matched, 2 error), verdict,
// severity and reason; the matched and reasons lists (count, then each); the top policy.
func compactPolicyDetails(dst []byte, r *Record) []byte {
	d := &r.PolicyDetails
	dst = binary.AppendUvarint(dst, uint64(len(d.Evaluated)))
	for i := range d.Evaluated {
		p := &d.Evaluated[i]
		var flags byte
		if p.Matched {
			flags |= 1
		}
		if p.Error {
			flags |= 2
		}
		dst = appendStampedStr(dst, p.ID)
		dst = append(dst, flags)
		dst = appendStampedStr(dst, string(p.Verdict))
		dst = appendStampedStr(dst, p.Severity)
		dst = appendStampedStr(dst, p.Reason)
	}
	for _, l := range [2][]string{d.Matched, d.Reasons} {
		dst = binary.AppendUvarint(dst, uint64(len(l)))
		for _, s := range l {
			dst = appendStampedStr(dst, s)
		}
	}
	return appendStampedStr(dst, d.TopPolicy)
}

func expandPolicyDetails(r *Record, s string) error {
	r.PolicyDetails = PolicyDetails{}
	if s == "" {
		return nil
	}
	pd, err := internPolicyDetails(s)
	if err != nil {
		return err
	}
	r.PolicyDetails = pd
	return nil
}

// decodeCompactPolicyDetails decodes the compact form s; the strings alias s.
func decodeCompactPolicyDetails(s string) (PolicyDetails, error) {
	d := compactDecoder(s)
	n := d.count()
	pd := PolicyDetails{Evaluated: make([]PolicyResult, n)}
	for i := range pd.Evaluated {
		p := &pd.Evaluated[i]
		p.ID = d.str()
		flags := d.byte()
		p.Matched, p.Error = flags&1 != 0, flags&2 != 0
		p.Verdict = Verdict(d.str())
		p.Severity = d.str()
		p.Reason = d.str()
	}
	for _, l := range [2]*[]string{&pd.Matched, &pd.Reasons} {
		*l = make([]string, d.count())
		for j := range *l {
			(*l)[j] = d.str()
		}
	}
	pd.TopPolicy = d.str()
	if err := d.done(); err != nil {
		return PolicyDetails{}, err
	}
	return pd, nil
}

// compliance_flags: one byte, a bit per flag (flagsIndex).
func compactComplianceFlags(dst []byte, r *Record) []byte {
	return append(dst, byte(r.ComplianceFlags.flagsIndex()))
}

func expandComplianceFlags(r *Record, s string) error {
	r.ComplianceFlags = ComplianceFlags{}
	if s == "" {
		return nil
	}
	if len(s) != 1 || s[0] >= 32 {
		return fmt.Errorf("%w: compliance_flags", errStamped)
	}
	b := s[0]
	r.ComplianceFlags = ComplianceFlags{PIIAccess: b&1 != 0, GDPRApplicable: b&2 != 0, HIPAARelevant: b&4 != 0, PCIRelevant: b&8 != 0, SecretExposure: b&16 != 0}
	return nil
}

// security_metrics: the risk score (varint), the query complexity.
func compactSecurityMetrics(dst []byte, r *Record) []byte {
	dst = binary.AppendVarint(dst, int64(r.SecurityMetrics.RiskScore))
	return appendStampedStr(dst, r.SecurityMetrics.QueryComplexity)
}

func expandSecurityMetrics(r *Record, s string) error {
	r.SecurityMetrics = SecurityMetrics{}
	if s == "" {
		return nil
	}
	d := compactDecoder(s)
	m := SecurityMetrics{RiskScore: int(d.varint()), QueryComplexity: d.str()}
	if err := d.done(); err != nil {
		return err
	}
	r.SecurityMetrics = m
	return nil
}

// compactDecoder reads a compact form; its strings alias s.
func compactDecoder(s string) *stampedDecoder {
	return &stampedDecoder{b: unsafe.Slice(unsafe.StringData(s), len(s))}
}

// count reads a count of elements that each take a byte at least.
func (d *stampedDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.i) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *stampedDecoder) done() error {
	if d.err == nil && d.i != len(d.b) {
		d.err = fmt.Errorf("%w: %d bytes left over", errStamped, len(d.b)-d.i)
	}
	return d.err
}

// canonicalCompact is the canonical JSON of the column whose compact form is s (what Expand then Encode then
// canonicalization give); ok is false when s does not expand.
func (c *JSONColumn) canonicalCompact(s string) ([]byte, bool) {
	var r Record
	if c.Expand(&r, s) != nil {
		return nil, false
	}
	return canonicalOf(c.Encode(&r))
}
