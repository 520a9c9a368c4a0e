package audit

import "fmt"

const (
	// MaxIdentifierBytes caps every identifier column (ids, names, enumerations).
	MaxIdentifierBytes = 128
	// MaxContentColumnBytes caps query and response_sample whatever the processor's max_content_bytes (at most
	// this): 64 KiB plus the truncation marker.
	MaxContentColumnBytes = 64<<10 + 64
	// MaxFieldPathBytes caps one element of redacted_fields (an attribute path).
	MaxFieldPathBytes = 512
	// MaxJSONColumnBytes caps the encoded policy_details and metadata.
	MaxJSONColumnBytes = 1 << 20
)

// CheckCaps reports the first column of r over its cap in ColumnCaps, naming the column and the sizes (never the
// value).
func (r *Record) CheckCaps() error { return r.CheckCapsStored(nil) }

// CheckCapsStored is CheckCaps with the JSON columns measured as js holds them (the bytes an exporter sends), so they
// are not encoded again; js nil encodes them from r.
func (r *Record) CheckCapsStored(js *StoredJSON) (err error) {
	r.overCaps(js, func(col string, n, limit int, _ func(string)) bool {
		err = fmt.Errorf("audit record: %s is %d bytes, over its cap of %d", col, n, limit)
		return false
	})
	return err
}

// WithholdOverCaps replaces every value of r over its cap (text columns, list elements, JSON columns) with
// marker(size, cap), so that a record refused for its size can be kept for an operator without the value: a value
// over its cap never passed the governance processor's rules, so it may be raw content.
func (r *Record) WithholdOverCaps(marker func(n, limit int) string) {
	r.overCaps(nil, func(_ string, n, limit int, replace func(string)) bool {
		replace(marker(n, limit))
		return true
	})
}

// overCaps calls f for every value of r over its cap, with a function that replaces the value, until f returns
// false: the text columns, then the list elements, then the JSON columns, each in column order (Field.Cap, ElemCap).
// The JSON columns are measured as js holds them, or as encoded from r when js is nil.
func (r *Record) overCaps(js *StoredJSON, f func(col string, n, limit int, replace func(string)) bool) {
	for i := range Fields {
		c := &Fields[i]
		if c.Column == "" || c.Cap == 0 || (c.Kind != KindText && c.Kind != KindUUID) {
			continue
		}
		p := c.Text(r)
		if n := len(*p); n > c.Cap && !f(c.Column, n, c.Cap, func(v string) { *p = v }) {
			return
		}
	}
	// List elements: pii_types are engine type names, redacted_fields attribute paths (nested keys joined by ".").
	// A list is copied before its first replacement, so a caller's shared backing array is never written.
	for i := range Fields {
		c := &Fields[i]
		if c.Kind != KindList || c.ElemCap == 0 {
			continue
		}
		l, copied := c.List(r), false
		for j, s := range *l {
			if len(s) <= c.ElemCap {
				continue
			}
			if !f(c.Column+" element", len(s), c.ElemCap, func(v string) {
				if !copied {
					*l, copied = append([]string(nil), *l...), true
				}
				(*l)[j] = v
			}) {
				return
			}
		}
	}
	for i := range Fields {
		c := &Fields[i]
		if c.Kind != KindJSON || c.Cap == 0 {
			continue
		}
		var n int
		if js != nil {
			n = len(*c.Stored(js))
		} else {
			n = len(c.JSON.Encode(r))
		}
		if n > c.Cap && !f(c.Column, n, c.Cap, func(v string) { c.JSON.Withhold(r, v) }) {
			return
		}
	}
}
