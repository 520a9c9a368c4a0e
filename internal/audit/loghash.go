package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// LogHasher computes the record_hash of a stamped log record — what FromLogRecord followed by ComputeHash returns —
// without building the Record's maps and JSON documents: the processor hashes every record it chains, and that
// reference path costs tens of microseconds and hundreds of allocations a record.
//
// It decodes audit.record (or the compact encoding the caller is about to stamp, StampedHash) into a scratch Record
// whose strings point into it, applies the audit.* attributes of fields over it in the same pass that collects the
// metadata attributes, writes the JSON columns directly in canonical form (metadata straight from the pcommon
// values, with the JSON encodings canonjson.go defines; the other columns memoized, since consecutive records mostly
// carry the same ones), and hands them to the one canonical encoder (Record.appendCanonical), hashing the bytes in a
// reused buffer. Anything unusual (a missing or malformed audit.* value, a bytes attribute, a key that is not valid
// UTF-8) makes it decline, and the caller takes the reference path, which also reports the error. Tests check it
// agrees with the reference.
//
// A LogHasher is not safe for concurrent use; the zero value is ready.
type LogHasher struct {
	rec Record
	// Per entry of Fields: the raw stamped string (times, JSON, extras), the stamped value (lists kept as JSON), the
	// measured numbers the record points to, a stamped list in canonical JSON, list storage.
	raw    [maxFields]string
	vals   [maxFields]pcommon.Value
	ints   [maxFields]int64
	floats [maxFields]float64
	lists  [maxFields][]byte
	strs   [maxFields][]string
	js     StoredJSON
	md     []byte // canonical metadata
	buf    []byte // canonical encoding
	mdWriter
	memos  [maxJSONMemos]jsonMemo // of the JSON columns stamped as JSON attributes, in table order
	cmemos [maxJSONMemos]jsonMemo // of their compact forms in audit.record
	// stamped is a copy of a record's audit.record (LogRecordHash)
	stamped  []byte
	traceID  pcommon.TraceID // the last ones seen, and their hex
	spanID   pcommon.SpanID
	traceHex string
	spanHex  string
}

// stampedMask has the bit of every entry the compact encoding holds.
var stampedMask = func() (m uint64) {
	for _, i := range stampedEntries {
		m |= 1 << i
	}
	return m
}()

// The stampedSink of LogHasher: strings stay in the encoding, numbers and lists in the hasher's scratch.
func (h *LogHasher) compact(i int, s string) { h.raw[i] = s }
func (h *LogHasher) extra(i int, s string)   { h.raw[i] = s }
func (h *LogHasher) list(i int, n int) []string {
	if cap(h.strs[i]) < n {
		h.strs[i] = make([]string, n)
	}
	return h.strs[i][:n]
}
func (h *LogHasher) int(i int, v int64) *int64 {
	h.ints[i] = v
	return &h.ints[i]
}
func (h *LogHasher) float(i int, v float64) *float64 {
	h.floats[i] = v
	return &h.floats[i]
}

// mdWriter writes the metadata column straight from the pcommon values: in canonical JSON form for the hash
// (LogHasher), or, plain, as valid JSON equal in value to json.Marshal of the map FromLogRecord builds (the exporters
// store that: FromLogRecordForStore; its bytes are json.Marshal's). The two differ only in how a non-integer number
// is written (canonical: an exact rational; plain: as encoding/json writes it) and in invalid UTF-8 in a string
// (canonical: a raw U+FFFD; plain: encoding/json's \ufffd escape). The zero value writes canonical JSON.
type mdWriter struct {
	ents      []mdEntry
	order     []sortKey
	plain     bool
	shapes    [maxShapes]*objShape // remembered key sequences (mdshape.go)
	nextShape int
}

// mdEntry is one member of a metadata object being written: a pcommon value, or (top level) one of the stamped
// extras (a string) or the resource's attributes.
type mdEntry struct {
	key  string
	val  pcommon.Value
	res  pcommon.Map
	str  string
	kind uint8
}

const (
	entValue uint8 = iota
	entString
	entMap
)

// jsonMemo remembers the canonical form of the last few values of a JSON column.
type jsonMemo struct {
	in   [4]string
	out  [4][]byte
	used int
	next int
}

func (m *jsonMemo) get(s string) ([]byte, bool) {
	for i := range m.used {
		if m.in[i] == s {
			return m.out[i], true
		}
	}
	return nil, false
}

func (m *jsonMemo) put(s string, canonical []byte) {
	m.in[m.next], m.out[m.next] = s, canonical
	m.next = (m.next + 1) % len(m.in)
	m.used = max(m.used, m.next)
	if m.next == 0 {
		m.used = len(m.in)
	}
}

// maxJSONMemos bounds the JSON columns stamped as JSON (JSONColumn.Canonical) the table may hold.
const maxJSONMemos = 8

// hasherJSONAndExtras are the entries LogHasher finishes after its pass over the attributes, in table order: the
// JSON columns stamped as JSON or as a list, and the extras filed under metadata.
var hasherJSONAndExtras = func() []uint8 {
	var out []uint8
	memos := 0
	for i, f := range Fields {
		switch {
		case f.Kind == KindJSON && f.JSON.Canonical != nil:
			memos++
		case f.Kind == KindStringsJSON, f.Kind == KindExtra && f.MetadataKey != "":
		default:
			continue
		}
		out = append(out, uint8(i))
	}
	if memos > maxJSONMemos {
		panic("audit: raise maxJSONMemos")
	}
	return out
}()

// asString is Value.AsString without the allocation for strings.
func asString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// LogRecordHash returns the record_hash of lr (of resource res) as FromLogRecord and ComputeHash compute it. ok is
// false when the record needs that reference path (see LogHasher).
func (h *LogHasher) LogRecordHash(res pcommon.Resource, lr plog.LogRecord) (hash string, ok bool) {
	v, found := lr.Attributes().Get(AttrRecord)
	if !found {
		return h.hash(res, lr, nil, false)
	}
	if v.Type() != pcommon.ValueTypeBytes {
		return "", false
	}
	bs := v.Bytes()
	h.stamped = h.stamped[:0]
	for _, c := range bs.All() { // ByteSlice has no copy into a caller's buffer; AsRaw allocates
		h.stamped = append(h.stamped, c)
	}
	return h.hash(res, lr, h.stamped, true)
}

// StampedHash returns the record_hash lr will have once stamped, its compact encoding (Record.AppendStamped), is
// its audit.record: what FromLogRecord then ComputeHash return for it, through the fast path when it can. lr does
// not carry audit.record yet (the chain hashes a record before it is stamped). stamped is not kept.
func (h *LogHasher) StampedHash(res pcommon.Resource, lr plog.LogRecord, stamped []byte) (string, error) {
	if s, ok := h.hash(res, lr, stamped, true); ok {
		return s, nil
	}
	rec, err := fromLogRecord(res, lr, stamped, true, metadataMap)
	if err != nil {
		return "", err
	}
	return rec.ComputeHash()
}

// hash is LogRecordHash with the compact encoding given (hasStamped), which then takes the place of audit.record.
func (h *LogHasher) hash(res pcommon.Resource, lr plog.LogRecord, stamped []byte, hasStamped bool) (hash string, ok bool) {
	r := &h.rec
	*r = Record{}
	h.ents, h.order = h.ents[:0], h.order[:0]
	var have uint64 // entries set from the compact encoding
	if hasStamped {
		if decodeStamped(stamped, r, h) != nil {
			return "", false
		}
		have = stampedMask
	}
	// One pass over the attributes, each audit.* one found in the field table and set over what the compact
	// encoding held; the first occurrence of a key wins, as with Map.Get. Times, stamped JSON and extras are kept
	// raw in h.raw until the pass is over.
	var seen uint64
	for k, v := range lr.Attributes().All() {
		if !strings.HasPrefix(k, AttrPrefix) {
			if !isContentKey(k) {
				h.ents = append(h.ents, mdEntry{key: k, val: v})
			}
			continue
		}
		i, known := attrLookup.lookup(k)
		if !known || seen&(1<<i) != 0 {
			continue
		}
		seen |= 1 << i
		f := &Fields[i]
		switch f.Kind {
		case KindText, KindUUID:
			if !f.StampOnly {
				*f.Text(r) = asString(v)
			}
		case KindTime, KindJSON, KindExtra:
			h.raw[i] = asString(v)
		case KindStringsJSON:
			h.vals[i] = v
		case KindList:
			l := f.List(r)
			*l = appendStringsOf(h.strs[i][:0], v)
			h.strs[i] = *l
		case KindInt:
			*f.Int(r) = nil
			if v.Type() == pcommon.ValueTypeInt {
				h.ints[i] = v.Int()
				*f.Int(r) = &h.ints[i]
			}
		case KindFloat:
			*f.Float(r) = nil
			if v.Type() == pcommon.ValueTypeDouble {
				h.floats[i] = v.Double()
				*f.Float(r) = &h.floats[i]
			}
		case KindSeq:
			*f.Seq(r) = v.Int()
		}
	}
	have |= seen
	raw := func(i int) string {
		if have&(1<<i) == 0 {
			return ""
		}
		return h.raw[i]
	}

	for _, i := range [...]int{fieldTimestamp, fieldReceivedAt} {
		if seen&(1<<i) != 0 || !hasStamped {
			t, err := time.Parse(time.RFC3339Nano, raw(i))
			if err != nil {
				return "", false
			}
			*Fields[i].Time(r) = t
		}
	}
	if r.ID == "" || r.Validate() != nil {
		return "", false
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		if tid != h.traceID { // a batch's records often share their trace
			h.traceID, h.traceHex = tid, hex.EncodeToString(tid[:])
		}
		r.TraceID = h.traceHex
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		if sid != h.spanID {
			h.spanID, h.spanHex = sid, hex.EncodeToString(sid[:])
		}
		r.SpanID = h.spanHex
	}

	// The JSON columns, canonical. FromLogRecord decodes the stamped documents into their structs, which the
	// exporters re-encode (PolicyDetailsJSON, ...); a memo miss does exactly that. A stamped list (obligations) is
	// written directly. Then metadata: the record's other attributes, then the stamped extras, then the resource, a
	// later key replacing an earlier one as in FromLogRecord's map.
	memo := 0
	for _, x := range hasherJSONAndExtras {
		i := int(x)
		f := &Fields[i]
		switch {
		case f.Kind == KindJSON && f.JSON.Canonical != nil:
			if seen&(1<<i) == 0 && hasStamped { // from audit.record
				*f.Stored(&h.js), ok = h.cmemos[memo].canonical(raw(i), f.JSON.canonicalCompact)
			} else {
				*f.Stored(&h.js), ok = h.memos[memo].canonical(raw(i), f.JSON.Canonical)
			}
			if !ok {
				return "", false
			}
			memo++
		case f.Kind == KindStringsJSON:
			b := append(h.lists[i][:0], '[')
			switch {
			case seen&(1<<i) != 0:
				if h.vals[i].Type() == pcommon.ValueTypeSlice {
					for j, e := range h.vals[i].Slice().All() {
						if j > 0 {
							b = append(b, ',')
						}
						b = appendCanonicalStr(b, asString(e))
					}
				}
			default: // from the compact encoding, or empty
				for j, e := range *f.List(r) {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendCanonicalStr(b, e)
				}
			}
			h.lists[i] = append(b, ']')
			*f.Stored(&h.js) = h.lists[i]
		case f.Kind == KindExtra && f.MetadataKey != "":
			if s := raw(i); s != "" {
				h.ents = append(h.ents, mdEntry{key: f.MetadataKey, str: s, kind: entString})
			}
		}
	}
	if ra := res.Attributes(); ra.Len() > 0 {
		h.ents = append(h.ents, mdEntry{key: "resource", res: ra, kind: entMap})
	}
	if h.md, ok = h.appendObject(h.md[:0], 0); !ok {
		return "", false
	}
	h.js.Metadata = h.md

	var err error
	if h.buf, err = r.appendCanonical(h.buf[:0], &h.js, true); err != nil {
		return "", false
	}
	sum := sha256.Sum256(h.buf)
	var out [len(HashVersion) + 1 + 2*sha256.Size]byte
	copy(out[:], HashVersion+":")
	hex.Encode(out[len(HashVersion)+1:], sum[:])
	return string(out[:]), true
}

func (h *LogHasher) intOf(i int, v pcommon.Value) *int64 {
	if v.Type() != pcommon.ValueTypeInt {
		return nil
	}
	h.ints[i] = v.Int()
	return &h.ints[i]
}

// appendStringsOf is getStrings appending to dst.
func appendStringsOf(dst []string, v pcommon.Value) []string {
	if v.Type() != pcommon.ValueTypeSlice {
		return dst
	}
	for _, e := range v.Slice().All() {
		dst = append(dst, asString(e))
	}
	return dst
}

// canonical returns the canonical form of the JSON column stamped as s, computing it with f on a miss.
func (m *jsonMemo) canonical(s string, f func(string) ([]byte, bool)) ([]byte, bool) {
	if b, ok := m.get(s); ok {
		return b, true
	}
	b, ok := f(s)
	if ok {
		m.put(strings.Clone(s), b) // s may point into a buffer its caller reuses
	}
	return b, ok
}

// The reference path for the three stamped JSON columns: decode as FromLogRecord does, re-encode as the exporters
// do, canonicalize.

func policyDetailsCanonical(s string) ([]byte, bool) {
	var pd PolicyDetails
	if s != "" && json.Unmarshal([]byte(s), &pd) != nil {
		return nil, false
	}
	return canonicalOf(pd.AppendJSON(nil))
}

func complianceFlagsCanonical(s string) ([]byte, bool) {
	var f ComplianceFlags
	if s != "" && json.Unmarshal([]byte(s), &f) != nil {
		return nil, false
	}
	return canonicalOf([]byte(f.jsonString()))
}

func securityMetricsCanonical(s string) ([]byte, bool) {
	var m SecurityMetrics
	if s != "" && json.Unmarshal([]byte(s), &m) != nil {
		return nil, false
	}
	return canonicalOf([]byte(m.jsonString()))
}

func canonicalOf(raw []byte) ([]byte, bool) {
	b, err := appendCanonicalJSON(nil, raw)
	return b, err == nil
}

// appendObject writes the entries h.ents[from:] as a canonical JSON object — what json.Marshal of the map
// FromLogRecord builds (AsRaw, jsonSafe) becomes once canonicalized: members sorted by key, the last of a repeated
// key kept — and drops them from h.ents. Nested maps push their members above from while they are written. A key
// sequence written before is written from its shape (mdshape.go).
func (h *mdWriter) appendObject(dst []byte, from int) ([]byte, bool) {
	fp := shapeFingerprint(h.ents[from:])
	if s := h.shape(fp, h.ents[from:]); s != nil {
		return h.writeShaped(dst, from, s)
	}
	// Sort (stably) small records of an 8-byte key prefix and an index rather than the entries themselves.
	at := len(h.order)
	for i := from; i < len(h.ents); i++ {
		h.order = append(h.order, sortKey{pre: keyPrefix(h.ents[i].key), i: int32(i)})
	}
	order := h.order[at:]
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && h.less(order[j], order[j-1]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	s := &objShape{fp: fp, ents: make([]int32, 0, len(order)), ends: make([]int32, 0, len(order))}
	s.text = append(make([]byte, 0, 16*len(order)+1), '{')
	dst = append(dst, '{')
	wrote := false
	for n := range order {
		e := h.ents[h.order[at+n].i] // a copy: writing a nested map may grow h.ents and h.order
		if n+1 < len(order) && h.ents[h.order[at+n+1].i].key == e.key {
			continue // the last of a repeated key wins
		}
		keyAt := len(dst)
		if wrote {
			dst = append(dst, ',')
		}
		wrote = true
		var ok bool
		if dst, ok = appendCanonicalStrValid(dst, e.key); !ok {
			return dst, false // json.Marshal would rewrite the key, which can reorder or merge members
		}
		dst = append(dst, ':')
		s.text = append(s.text, dst[keyAt:]...)
		s.ents = append(s.ents, h.order[at+n].i-int32(from))
		s.ends = append(s.ends, int32(len(s.text)))
		if dst, ok = h.appendMember(dst, &e); !ok {
			return dst, false
		}
	}
	h.remember(s, h.ents[from:])
	h.ents, h.order = h.ents[:from], h.order[:at]
	return append(dst, '}'), true
}

// appendMember writes the value of the member e (which may point into h.ents: it is read before a nested map is
// written).
func (h *mdWriter) appendMember(dst []byte, e *mdEntry) ([]byte, bool) {
	switch e.kind {
	case entString:
		return h.appendStr(dst, e.str), true
	case entMap:
		return h.appendMap(dst, e.res)
	default:
		return h.appendValue(dst, e.val)
	}
}

type sortKey struct {
	pre uint64 // the key's first 8 bytes, big-endian, zero-padded
	i   int32  // index in h.ents
}

func keyPrefix(k string) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

func (h *mdWriter) less(a, b sortKey) bool {
	if a.pre != b.pre {
		return a.pre < b.pre
	}
	return h.ents[a.i].key < h.ents[b.i].key
}

func (h *mdWriter) appendMap(dst []byte, m pcommon.Map) ([]byte, bool) {
	from := len(h.ents)
	for k, v := range m.All() {
		h.ents = append(h.ents, mdEntry{key: k, val: v})
	}
	return h.appendObject(dst, from)
}

// appendStr writes the string s; plain, invalid UTF-8 as encoding/json writes it (its \ufffd escape).
func (h *mdWriter) appendStr(dst []byte, s string) []byte {
	out, valid := appendCanonicalStrValid(dst, s)
	if valid || !h.plain {
		return out
	}
	q, _ := json.Marshal(s)
	return append(out[:len(dst)], q...)
}

// appendValue writes v as the canonical form of json.Marshal(jsonSafe(v.AsRaw())) (plain: as json.Marshal writes it,
// see mdWriter).
func (h *mdWriter) appendValue(dst []byte, v pcommon.Value) ([]byte, bool) {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return append(dst, "null"...), true
	case pcommon.ValueTypeStr:
		return h.appendStr(dst, v.Str()), true
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool()), true
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10), true
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) { // jsonSafe
			var b [8]byte
			return appendCanonicalStr(dst, string(strconv.AppendFloat(b[:0], f, 'g', -1, 64))), true
		}
		if h.plain {
			return appendJSONFloat(dst, f), true
		}
		var b [32]byte
		out, err := appendCanonicalNumber(dst, appendJSONFloat(b[:0], f))
		return out, err == nil
	case pcommon.ValueTypeMap:
		return h.appendMap(dst, v.Map())
	case pcommon.ValueTypeSlice:
		dst = append(dst, '[')
		for i, e := range v.Slice().All() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = h.appendValue(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	}
	return dst, false // bytes (base64 in JSON) and unknown types: the reference path
}

// appendJSONFloat writes a finite float64 as encoding/json does (ES6 number formatting).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
