package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Integrity (docs/ARCHITECTURE.md §8). record_hash = "v1:" + hex(SHA-256(canonical encoding v1 of the record)).
//
// Canonical encoding v1: the bytes "govcol.audit.v1\x00", then every column of audit_logs except record_hash, in
// the order below, each as a 4-byte big-endian length followed by its bytes (NULL is the length 0xFFFFFFFF). It is
// defined on the values as Postgres stores them, so that a verifier reading the row back recomputes the same hash:
//   - text: the UTF-8 bytes; an empty string and NULL are the same (optional columns store "" as NULL);
//   - timestamps: UTC, truncated to the microsecond (the precision Postgres stores; pgx truncates), "2006-01-02T15:04:05.000000Z";
//   - integers: decimal, NULL when not measured; cost: Go's shortest 'g' formatting of the float64;
//   - text[] lists: a 4-byte count, then each element as text;
//   - JSON columns: canonical JSON — object keys sorted by bytes, no whitespace, numbers as exact rationals
//     (big.Rat, so "1e2" and "100" agree, as they do once jsonb has normalised them), strings as encoding/json writes
//     them;
//   - chain_seq: decimal (0 when absent).
//
// Columns in order: id, decision_id (lower case), timestamp, received_at, request_id, correlation_id, trace_id,
// span_id, request_type, plane, origin, org_id, tenant_id, client_id, user_email, identity_source, user_id,
// session_id, policy_decision, policy_details, obligations, pii_types, redacted_fields, query, response_sample,
// query_hash, provider, model, tool_name, response_time_ms, input_tokens, output_tokens, tokens_used, cost,
// compliance_flags, security_metrics, metadata, chain_id, chain_seq, prev_hash.

// HashVersion prefixes every record_hash.
const HashVersion = "v1"

var canonicalMagic = []byte("govcol.audit.v1\x00")

const timeLayout = "2006-01-02T15:04:05.000000Z"

// CanonicalTime is a timestamp as the canonical encoding (and Postgres) holds it.
func CanonicalTime(t time.Time) string { return string(appendCanonicalTime(nil, t)) }

// appendCanonicalTime appends CanonicalTime(t), writing the digits directly for years 0-9999 (time.Format's
// general layout interpreter costs more than the rest of a record's columns).
func appendCanonicalTime(dst []byte, t time.Time) []byte {
	t = t.UTC().Truncate(time.Microsecond)
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, timeLayout)
	}
	hour, minute, sec := t.Clock()
	d := func(b []byte, v, n int) []byte { // v as n zero-padded digits
		for i := n - 1; i >= 0; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
		return b[n:]
	}
	var buf [len(timeLayout)]byte
	b := d(buf[:], year, 4)
	b[0] = '-'
	b = d(b[1:], int(month), 2)
	b[0] = '-'
	b = d(b[1:], day, 2)
	b[0] = 'T'
	b = d(b[1:], hour, 2)
	b[0] = ':'
	b = d(b[1:], minute, 2)
	b[0] = ':'
	b = d(b[1:], sec, 2)
	b[0] = '.'
	b = d(b[1:], t.Nanosecond()/1000, 6)
	b[0] = 'Z'
	return append(dst, buf[:]...)
}

type canon struct{ b []byte }

func (c *canon) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

func (c *canon) bytes(s []byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

// lower writes strings.ToLower(s) as text, lower-casing ASCII in place (a uuid) rather than in a new string.
func (c *canon) lower(s string) {
	at := len(c.b) + 4
	c.text(s)
	for i := at; i < len(c.b); i++ {
		switch b := c.b[i]; {
		case b >= utf8.RuneSelf:
			c.b = c.b[:at-4]
			c.text(strings.ToLower(s))
			return
		case 'A' <= b && b <= 'Z':
			c.b[i] = b + 'a' - 'A'
		}
	}
}

func (c *canon) null() { c.b = binary.BigEndian.AppendUint32(c.b, math.MaxUint32) }

// start reserves a length prefix for a value appended in place; end fills it in.
func (c *canon) start() int {
	c.b = append(c.b, 0, 0, 0, 0)
	return len(c.b)
}

func (c *canon) end(at int) { binary.BigEndian.PutUint32(c.b[at-4:], uint32(len(c.b)-at)) }

func (c *canon) time(t time.Time) {
	at := c.start()
	c.b = appendCanonicalTime(c.b, t)
	c.end(at)
}

func (c *canon) decimal(n int64) {
	at := c.start()
	c.b = strconv.AppendInt(c.b, n, 10)
	c.end(at)
}

func (c *canon) int(p *int64) {
	if p == nil {
		c.null()
		return
	}
	c.decimal(*p)
}

func (c *canon) list(ss []string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(ss)))
	for _, s := range ss {
		c.text(s)
	}
}

// json writes a JSON column: raw re-encoded canonically, or as it is when it is canonical already.
func (c *canon) json(raw []byte, canonical bool) error {
	if canonical {
		c.bytes(raw)
		return nil
	}
	at := c.start()
	out, err := appendCanonicalJSON(c.b, raw)
	if err != nil {
		c.b = c.b[:at-4]
		return err
	}
	c.b = out
	c.end(at)
	return nil
}

// Canonical returns the canonical encoding v1 of r (everything but RecordHash).
func (r *Record) Canonical() ([]byte, error) {
	return r.CanonicalWithJSON(r.StoredJSON())
}

// StoredJSON returns the JSON columns of r as the exporters store them.
func (r *Record) StoredJSON() StoredJSON {
	var js StoredJSON
	for i := range Fields {
		if f := &Fields[i]; f.JSON != nil {
			*f.Stored(&js) = f.JSON.Encode(r)
		}
	}
	return js
}

// StoredJSON holds the JSON columns of a record as stored (a verifier hashes what the database holds, not a
// re-encoding of it, so that an added or changed JSON member is detected).
type StoredJSON struct {
	PolicyDetails, Obligations, ComplianceFlags, SecurityMetrics, Metadata []byte
}

// CanonicalWithJSON is Canonical with the JSON columns given as stored; the other fields come from r.
func (r *Record) CanonicalWithJSON(js StoredJSON) ([]byte, error) {
	size := 768 + len(r.Query) + len(r.ResponseSample) + len(js.PolicyDetails) + len(js.Obligations) +
		len(js.ComplianceFlags) + len(js.SecurityMetrics) + len(js.Metadata)
	return r.appendCanonical(make([]byte, 0, size), &js, false)
}

// appendCanonical appends the canonical encoding v1 of r with the JSON columns js to dst. jsCanonical says that js
// is in canonical JSON form already (LogHasher writes it so), else it is re-encoded here. It is the one definition of
// the encodings, for the processor, the exporters and the verifier alike; the column order is that of Fields.
func (r *Record) appendCanonical(dst []byte, js *StoredJSON, jsCanonical bool) ([]byte, error) {
	c := canon{b: dst}
	c.b = append(c.b, canonicalMagic...)
	p := unsafe.Pointer(r)
	for _, st := range canonicalPlan {
		switch st.kind {
		case KindText:
			for i := range uintptr(st.n) {
				c.text(*(*string)(unsafe.Add(p, st.off+i*unsafe.Sizeof(""))))
			}
		case KindUUID:
			c.lower(*(*string)(unsafe.Add(p, st.off)))
		case KindTime:
			c.time(*(*time.Time)(unsafe.Add(p, st.off)))
		case KindJSON, KindStringsJSON:
			if err := c.json(*(*[]byte)(unsafe.Add(unsafe.Pointer(js), st.off)), jsCanonical); err != nil {
				return nil, fmt.Errorf("%s: %w", Fields[st.field].Column, err)
			}
		case KindList:
			c.list(*(*[]string)(unsafe.Add(p, st.off)))
		case KindInt:
			c.int(*(**int64)(unsafe.Add(p, st.off)))
		case KindFloat:
			if f := *(**float64)(unsafe.Add(p, st.off)); f == nil {
				c.null()
			} else {
				at := c.start()
				c.b = strconv.AppendFloat(c.b, *f, 'g', -1, 64)
				c.end(at)
			}
		case KindSeq:
			c.decimal(*(*int64)(unsafe.Add(p, st.off)))
		}
	}
	return c.b, nil
}

// canonicalStep is one hashed column of Fields, compact (the encoder walks these, not the wider table): the kind,
// the offset in Record (in StoredJSON for a JSON column) and the entry's index. Consecutive text columns that are
// consecutive strings of Record are one step of n strings.
type canonicalStep struct {
	off   uintptr
	kind  FieldKind
	field uint8
	n     uint8
}

var canonicalPlan = func() []canonicalStep {
	var out []canonicalStep
	for i, f := range Fields {
		if f.Column == "" || f.Unhashed {
			continue
		}
		if last := len(out) - 1; f.Kind == KindText && last >= 0 && out[last].kind == KindText &&
			f.off == out[last].off+uintptr(out[last].n)*unsafe.Sizeof("") {
			out[last].n++
			continue
		}
		st := canonicalStep{off: f.off, kind: f.Kind, field: uint8(i), n: 1}
		if f.JSON != nil {
			st.off = f.JSON.stored
		}
		out = append(out, st)
	}
	return out
}()

// ComputeHash returns the record_hash of r: "v1:" + hex SHA-256 of its canonical encoding.
func (r *Record) ComputeHash() (string, error) {
	b, err := r.Canonical()
	if err != nil {
		return "", err
	}
	return HashOf(b), nil
}

// HashOf formats the record_hash of a canonical encoding.
func HashOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return HashVersion + ":" + hex.EncodeToString(sum[:])
}

// CanonicalJSON re-encodes a JSON document canonically (sorted keys, no whitespace, exact rational numbers).
func CanonicalJSON(raw []byte) (string, error) {
	b, err := appendCanonicalJSON(nil, raw)
	return string(b), err
}
