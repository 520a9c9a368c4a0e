package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The stamped form of a record. The governance processor stamps a governed log record with
//   - audit.record (AttrRecord), a bytes attribute holding the whole record in the compact encoding below, and
//   - the named attributes (Field.Named): the few fields that connectors, OTTL conditions (the s3decision selection,
//     count connectors, transform and filter processors) and policies read by name, repeated as typed attributes.
//
// FromLogRecord and LogHasher read the record from audit.record; an audit.* attribute of a field, when present,
// takes precedence over it (a component after the processor may set one, and a record stamped before audit.record
// existed carries every field so). Stamping one attribute instead of ~40 is most of the processor's allocation
// saving: pdata allocates a value wrapper and the value for every attribute.
//
// The named fields travel as their attributes only: their entries in audit.record are written empty (an empty
// string, an empty list), and the decoders take the attributes, which take precedence anyway. The two are stamped
// together (WriteAttributes, the governance processor). Records stamped before (the values in both places, in a
// queue or a fallback file across an upgrade) decode as they did: the encoding's version is the same.
//
// Compact encoding: a version byte (stampedVersion), the number of entries, then every entry of Fields that is
// read back (stampedEntries: an attribute of its own, not StampOnly, extras filed under metadata), in table order:
//   - text, uuid, extra: uvarint length, then the bytes;
//   - a JSON column: uvarint length, then its compact form (JSONColumn.Compact; stamped_json.go), which Expand
//     turns back into the field the exporters encode;
//   - time: varint Unix seconds, uvarint nanoseconds (UTC);
//   - list (KindList, KindStringsJSON): uvarint count, then each element as text;
//   - measured int: 0 (not measured) or 1 then the varint; measured float: 0, or 1 then the 8 IEEE 754 bytes
//     (little endian);
//   - chain_seq: varint.
//
// record_hash is the last entry, so a chainer can hash the encoding and then append the hash.

// AttrRecord is the attribute that carries the record in its compact encoding.
const AttrRecord = "audit.record"

// stampedVersion is the first byte of the compact encoding; a change to the entries read back is a new version.
const stampedVersion = 1

// stampedEntries are the indexes in Fields of the entries the compact encoding holds, in order.
var stampedEntries = func() []uint8 {
	var out []uint8
	for i, f := range Fields {
		if f.Attr == "" || f.StampOnly || (f.Kind == KindExtra && f.MetadataKey == "") {
			continue
		}
		out = append(out, uint8(i))
	}
	if Fields[out[len(out)-1]].Column != "record_hash" {
		panic("audit: record_hash must be the last entry of the compact encoding")
	}
	return out
}()

// errStamped is wrapped by every decoding error of audit.record.
var errStamped = errors.New("malformed " + AttrRecord)

// AppendStamped appends the compact encoding of r and extra to dst.
func (r *Record) AppendStamped(dst []byte, extra *Extra) []byte {
	dst = append(dst, stampedVersion, byte(len(stampedEntries)))
	for _, i := range stampedEntries {
		f := &Fields[i]
		if f.Named { // an empty string or list: the value is the named attribute
			dst = append(dst, 0)
			continue
		}
		switch f.Kind {
		case KindText, KindUUID:
			dst = appendStampedStr(dst, *f.Text(r))
		case KindExtra:
			dst = appendStampedStr(dst, *f.Extra(extra))
		case KindTime:
			t := *f.Time(r)
			dst = binary.AppendVarint(dst, t.Unix())
			dst = binary.AppendUvarint(dst, uint64(t.Nanosecond()))
		case KindJSON:
			// The length is not known before the document is written: reserve one byte and move the document when
			// its length needs more.
			at := len(dst)
			dst = f.JSON.Compact(append(dst, 0), r)
			dst = fixLength(dst, at)
		case KindStringsJSON, KindList:
			l := *f.List(r)
			dst = binary.AppendUvarint(dst, uint64(len(l)))
			for _, s := range l {
				dst = appendStampedStr(dst, s)
			}
		case KindInt:
			if p := *f.Int(r); p != nil {
				dst = binary.AppendVarint(append(dst, 1), *p)
			} else {
				dst = append(dst, 0)
			}
		case KindFloat:
			if p := *f.Float(r); p != nil {
				dst = binary.LittleEndian.AppendUint64(append(dst, 1), math.Float64bits(*p))
			} else {
				dst = append(dst, 0)
			}
		case KindSeq:
			dst = binary.AppendVarint(dst, *f.Seq(r))
		}
	}
	return dst
}

// SetStampedRecordHash sets the record_hash of a compact encoding written with an empty one (a chainer encodes a
// record, hashes the encoding, then stamps it with its hash): it is AppendStamped of the record with RecordHash set,
// without encoding the record again. ok is false when stamped does not end with an empty record_hash.
func SetStampedRecordHash(stamped []byte, hash string) (out []byte, ok bool) {
	if len(stamped) < 3 || stamped[len(stamped)-1] != 0 {
		return stamped, false
	}
	return appendStampedStr(stamped[:len(stamped)-1], hash), true
}

func appendStampedStr(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// fixLength writes the uvarint length of dst[at+1:] at dst[at], moving the bytes up when it needs more than one.
func fixLength(dst []byte, at int) []byte {
	n := len(dst) - at - 1
	if n < 0x80 {
		dst[at] = byte(n)
		return dst
	}
	var lb [binary.MaxVarintLen64]byte
	ln := binary.PutUvarint(lb[:], uint64(n))
	dst = append(dst, lb[:ln-1]...) // grow by the extra length bytes
	copy(dst[at+ln:], dst[at+1:at+1+n])
	copy(dst[at:], lb[:ln])
	return dst
}

// stampedDecoder reads the compact encoding; strings alias the encoding, which the caller keeps unchanged while
// they are used.
type stampedDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *stampedDecoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated at byte %d", errStamped, d.i)
	}
}

func (d *stampedDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	if d.i < len(d.b) && d.b[d.i] < 0x80 { // one byte: most lengths
		d.i++
		return uint64(d.b[d.i-1])
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.i += n
	return v
}

func (d *stampedDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.i += n
	return v
}

func (d *stampedDecoder) byte() byte {
	if d.err != nil || d.i >= len(d.b) {
		d.fail()
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *stampedDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)-d.i) {
		d.fail()
		return ""
	}
	if n == 0 {
		return ""
	}
	s := unsafe.String(&d.b[d.i], int(n))
	d.i += int(n)
	return s
}

// stampedSink receives what the decoder does not put in the Record itself: the JSON columns as encoded, the
// extras, and list storage.
type stampedSink interface {
	compact(i int, s string)
	extra(i int, s string)
	list(i int, n int) []string // storage for n elements
	int(i int, v int64) *int64
	float(i int, v float64) *float64
}

// decodeStamped fills r from the compact encoding b (strings alias b); JSON columns, extras, lists and measured
// numbers go through sink.
func decodeStamped(b []byte, r *Record, sink stampedSink) error {
	if len(b) < 2 || b[0] != stampedVersion || int(b[1]) != len(stampedEntries) {
		if len(b) == 0 {
			return fmt.Errorf("%w: empty", errStamped)
		}
		return fmt.Errorf("%w: version %d with %d entries, this build reads version %d with %d", errStamped, b[0], b[min(1, len(b)-1)], stampedVersion, len(stampedEntries))
	}
	d := stampedDecoder{b: b, i: 2}
	for _, x := range stampedEntries {
		i := int(x)
		f := &Fields[i]
		switch f.Kind {
		case KindText, KindUUID:
			*f.Text(r) = d.str()
		case KindExtra:
			sink.extra(i, d.str())
		case KindTime:
			sec := d.varint()
			ns := d.uvarint()
			if ns >= 1e9 {
				d.fail()
			}
			*f.Time(r) = time.Unix(sec, int64(ns)).UTC()
		case KindJSON:
			sink.compact(i, d.str())
		case KindStringsJSON, KindList:
			n := d.uvarint()
			if n > uint64(len(d.b)-d.i) { // every element takes a byte at least
				d.fail()
				n = 0
			}
			l := sink.list(i, int(n))
			for j := range l {
				l[j] = d.str()
			}
			*f.List(r) = l
		case KindInt:
			if d.byte() == 1 {
				*f.Int(r) = sink.int(i, d.varint())
			} else {
				*f.Int(r) = nil
			}
		case KindFloat:
			if d.byte() == 1 {
				if d.err == nil && len(d.b)-d.i >= 8 {
					*f.Float(r) = sink.float(i, math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.i:])))
					d.i += 8
				} else {
					d.fail()
				}
			} else {
				*f.Float(r) = nil
			}
		case KindSeq:
			*f.Seq(r) = d.varint()
		}
		if d.err != nil {
			return fmt.Errorf("%w (%s)", d.err, f.Attr)
		}
	}
	if d.i != len(d.b) {
		return fmt.Errorf("%w: %d bytes after the last entry", errStamped, len(d.b)-d.i)
	}
	return nil
}

// recordSink is FromLogRecord's stampedSink: it allocates what the Record keeps.
type recordSink struct {
	r     *Record
	x     *Extra
	err   error
	errAt int
}

func (s *recordSink) compact(i int, v string) {
	f := &Fields[i]
	if err := f.JSON.Expand(s.r, v); err != nil {
		s.fail(i, fmt.Errorf("bad %s in %s: %w", f.Column, AttrRecord, err))
	}
}

func (s *recordSink) json(i int, v string) {
	f := &Fields[i]
	if f.JSON.Decode == nil {
		return
	}
	if err := f.JSON.Decode(s.r, v); err != nil {
		s.fail(i, fmt.Errorf("bad %s: %w", f.Attr, err))
	}
}

func (s *recordSink) fail(i int, err error) {
	if s.err == nil || i < s.errAt {
		s.err, s.errAt = err, i
	}
}

func (s *recordSink) extra(i int, v string) { *Fields[i].Extra(s.x) = v }
func (s *recordSink) list(_ int, n int) []string {
	return make([]string, n)
}
func (s *recordSink) int(_ int, v int64) *int64       { return &v }
func (s *recordSink) float(_ int, v float64) *float64 { return &v }

// WriteAttributes stamps r (and extra) on m: audit.record and the named attributes (see AttrRecord). Callers that
// stamp many records reserve capacity first (MaxStampedAttributes).
func (r *Record) WriteAttributes(m pcommon.Map, extra Extra) {
	m.PutEmptyBytes(AttrRecord).FromRaw(r.AppendStamped(make([]byte, 0, r.StampedSizeHint()), &extra))
	r.WriteNamedAttributes(m, &extra)
}

// StampedSizeHint is about the size of r's compact encoding, for callers that size a buffer.
func (r *Record) StampedSizeHint() int {
	return 512 + len(r.Query) + len(r.ResponseSample) + 96*len(r.PolicyDetails.Evaluated)
}

// WriteNamedAttributes stamps the named attributes of r and extra on m (Field.Named): text when set (required text
// always), the lists when not empty.
func (r *Record) WriteNamedAttributes(m pcommon.Map, extra *Extra) {
	for _, i := range namedEntries {
		f := &Fields[i]
		switch f.Kind {
		case KindText, KindUUID:
			if s := *f.Text(r); s != "" || !f.Optional {
				m.PutStr(f.Attr, s)
			}
		case KindExtra:
			if s := *f.Extra(extra); s != "" {
				m.PutStr(f.Attr, s)
			}
		case KindList, KindStringsJSON:
			if l := *f.List(r); len(l) > 0 {
				putStrings(m, f.Attr, l)
			}
		default:
			panic("audit: a named attribute of kind " + fmt.Sprint(f.Kind))
		}
	}
}

// namedEntries are the indexes in Fields of the named attributes.
var namedEntries = func() []uint8 {
	var out []uint8
	for i, f := range Fields {
		if f.Named {
			out = append(out, uint8(i))
		}
	}
	return out
}()

// NamedAttributes lists the named attributes (Field.Named), in table order.
func NamedAttributes() []string {
	out := make([]string, len(namedEntries))
	for j, i := range namedEntries {
		out[j] = Fields[i].Attr
	}
	return out
}
