package integrity

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Ranges is a sorted set of sequence numbers as inclusive, non-overlapping, non-adjacent ranges. Its text form,
// used in signatures, storage and JSON, is "3-5,9" (ascending, a single number for a one-element range).
type Ranges [][2]int64

// Add inserts seq (callers add in any order).
func (r *Ranges) Add(seq int64) { r.AddRange(seq, seq) }

// AddRange inserts every sequence number in [lo, hi], merging with the ranges it overlaps or touches.
func (r *Ranges) AddRange(lo, hi int64) {
	rs := *r
	out := make(Ranges, 0, len(rs)+1)
	i := 0
	for ; i < len(rs) && rs[i][1] < lo-1; i++ {
		out = append(out, rs[i])
	}
	for ; i < len(rs) && rs[i][0] <= hi+1; i++ {
		lo, hi = min(lo, rs[i][0]), max(hi, rs[i][1])
	}
	*r = append(append(out, [2]int64{lo, hi}), rs[i:]...)
}

// Contains reports whether every sequence number in [from, to] is in the set.
func (r Ranges) Contains(from, to int64) bool {
	for _, x := range r {
		if x[0] <= from && to <= x[1] {
			return true
		}
	}
	return false
}

// Count is the number of sequence numbers in the set.
func (r Ranges) Count() int64 {
	var n int64
	for _, x := range r {
		n += x[1] - x[0] + 1
	}
	return n
}

// Split returns the part of the set at or below seq and the rest.
func (r Ranges) Split(seq int64) (Ranges, Ranges) {
	var lo, hi Ranges
	for _, x := range r {
		switch {
		case x[1] <= seq:
			lo = append(lo, x)
		case x[0] > seq:
			hi = append(hi, x)
		default:
			lo = append(lo, [2]int64{x[0], seq})
			hi = append(hi, [2]int64{seq + 1, x[1]})
		}
	}
	return lo, hi
}

func (r Ranges) String() string {
	var b strings.Builder
	for i, x := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(x[0], 10))
		if x[1] != x[0] {
			b.WriteByte('-')
			b.WriteString(strconv.FormatInt(x[1], 10))
		}
	}
	return b.String()
}

// ParseRanges reads the text form; it must be canonical (ascending, merged), since it is signed as text.
func ParseRanges(s string) (Ranges, error) {
	if s == "" {
		return nil, nil
	}
	var r Ranges
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(lo, 10, 64)
		if err != nil || a < 1 {
			return nil, fmt.Errorf("bad range %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 64); err != nil || b <= a {
				return nil, fmt.Errorf("bad range %q", part)
			}
		}
		if n := len(r); n > 0 && a <= r[n-1][1]+1 {
			return nil, fmt.Errorf("ranges %q not ascending and merged", s)
		}
		r = append(r, [2]int64{a, b})
	}
	return r, nil
}

// MarshalJSON writes the text form.
func (r Ranges) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads the text form.
func (r *Ranges) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseRanges(s)
	*r = v
	return err
}

// within returns the part of the set inside [lo, hi].
func (r Ranges) within(lo, hi int64) Ranges {
	var out Ranges
	for _, x := range r {
		if a, b := max(x[0], lo), min(x[1], hi); a <= b {
			out = append(out, [2]int64{a, b})
		}
	}
	return out
}

// union returns the set with every range of o added.
func (r Ranges) union(o Ranges) Ranges {
	for _, x := range o {
		r.AddRange(x[0], x[1])
	}
	return r
}
