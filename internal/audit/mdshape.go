package audit

import (
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The shape memo of mdWriter. A metadata object is written with its members sorted by key, the last of a repeated
// key kept, each key escaped: work that depends only on the keys of its entries, in entry order. Records of one kind
// of event carry the same keys in the same order (the resource attributes too), so mdWriter remembers, for the last
// few key sequences it wrote, which entries it wrote in which order and the text before each value (`,"key":`), and
// for a known sequence only writes the values. A sequence is known when every key is equal, byte for byte, to the
// remembered one; the fingerprint only picks the candidate.

// maxShapes bounds the key sequences an mdWriter remembers (a few kinds of event, the resources); a new one replaces
// the oldest.
const maxShapes = 32

// objShape is a remembered key sequence and how its object is written.
type objShape struct {
	fp   uint64
	keys []string // the entries' keys, in entry order (a copy: no reference to the record)
	ents []int32  // the entries written, in output order (index from the object's first entry)
	ends []int32  // text[ends[j-1]:ends[j]] is written before member j's value
	text []byte   // "{" `"k1":` `,"k2":` ...
}

// shapeFingerprint mixes the count, lengths and first and last bytes of the keys of ents.
func shapeFingerprint(ents []mdEntry) uint64 {
	fp := uint64(len(ents))
	for i := range ents {
		k := ents[i].key
		x := uint64(len(k))
		if len(k) > 0 {
			x |= uint64(k[0])<<32 | uint64(k[len(k)-1])<<40
		}
		fp = (fp ^ x) * 0x100000001b3
	}
	return fp
}

// shape returns the remembered shape of ents, or nil.
func (h *mdWriter) shape(fp uint64, ents []mdEntry) *objShape {
	for _, s := range h.shapes {
		if s == nil || s.fp != fp || len(s.keys) != len(ents) {
			continue
		}
		same := true
		for i := range ents {
			if ents[i].key != s.keys[i] {
				same = false
				break
			}
		}
		if same {
			return s
		}
	}
	return nil
}

// remember stores a shape built by appendObject, replacing the oldest.
func (h *mdWriter) remember(s *objShape, ents []mdEntry) {
	n := 0
	for i := range ents {
		n += len(ents[i].key)
	}
	arena := make([]byte, 0, n)
	s.keys = make([]string, len(ents))
	for i := range ents {
		at := len(arena)
		arena = append(arena, ents[i].key...)
		if len(ents[i].key) > 0 {
			s.keys[i] = unsafe.String(&arena[at], len(ents[i].key))
		}
	}
	h.shapes[h.nextShape] = s
	h.nextShape = (h.nextShape + 1) % maxShapes
}

// writeShaped writes the entries h.ents[from:] as the object of shape s and drops them from h.ents.
func (h *mdWriter) writeShaped(dst []byte, from int, s *objShape) ([]byte, bool) {
	prev := int32(0)
	for j, x := range s.ents {
		end := s.ends[j]
		dst = append(dst, s.text[prev:end]...)
		prev = end
		// e is read before a nested map is written, which may grow h.ents. Most values are strings.
		e := &h.ents[from+int(x)]
		if e.kind == entValue && e.val.Type() == pcommon.ValueTypeStr {
			dst = h.appendStr(dst, e.val.Str())
			continue
		}
		var ok bool
		if dst, ok = h.appendMember(dst, e); !ok {
			return dst, false
		}
	}
	dst = append(dst, s.text[prev:]...)
	h.ents = h.ents[:from]
	return append(dst, '}'), true
}
