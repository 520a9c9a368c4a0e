package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"sort"
)

// appendCanonicalJSON appends the canonical form of the JSON document src to dst: object members sorted by their
// (decoded) key bytes, no whitespace, numbers as exact rationals (big.Rat.RatString; plain integers as written),
// strings as encoding/json writes them. It scans src directly (no reflection, no boxing): hashing every record on
// the hot path of the processor and of `govctl verify` depends on it.
func appendCanonicalJSON(dst, src []byte) ([]byte, error) {
	p := jsonScanner{src: src}
	p.ws()
	out, err := p.value(dst)
	if err != nil {
		return dst, err
	}
	p.ws()
	if p.i != len(p.src) {
		return dst, errJSONTrailing
	}
	return out, nil
}

var (
	errJSONSyntax   = errors.New("invalid JSON")
	errJSONTrailing = errors.New("invalid JSON: trailing data")
)

type jsonScanner struct {
	src []byte
	i   int
}

func (p *jsonScanner) ws() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScanner) value(dst []byte) ([]byte, error) {
	if p.i >= len(p.src) {
		return dst, errJSONSyntax
	}
	switch c := p.src[p.i]; {
	case c == '{':
		return p.object(dst)
	case c == '[':
		return p.array(dst)
	case c == '"':
		tok, err := p.stringToken()
		if err != nil {
			return dst, err
		}
		return appendCanonicalString(dst, tok)
	case c == 't':
		return p.literal(dst, "true")
	case c == 'f':
		return p.literal(dst, "false")
	case c == 'n':
		return p.literal(dst, "null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number(dst)
	}
	return dst, errJSONSyntax
}

func (p *jsonScanner) literal(dst []byte, lit string) ([]byte, error) {
	if !bytes.HasPrefix(p.src[p.i:], []byte(lit)) {
		return dst, errJSONSyntax
	}
	p.i += len(lit)
	return append(dst, lit...), nil
}

// stringToken returns the raw token, quotes included.
func (p *jsonScanner) stringToken() ([]byte, error) {
	start := p.i
	p.i++
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case '\\':
			p.i += 2
		case '"':
			p.i++
			return p.src[start:p.i], nil
		default:
			p.i++
		}
	}
	return nil, errJSONSyntax
}

// appendCanonicalString writes a string token as encoding/json would write its value. A token of printable ASCII
// without escapes or HTML-sensitive characters is already in that form.
func appendCanonicalString(dst, tok []byte) ([]byte, error) {
	plain := true
	for _, c := range tok[1 : len(tok)-1] {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '<' || c == '>' || c == '&' {
			plain = false
			break
		}
	}
	if plain {
		return append(dst, tok...), nil
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return dst, errJSONSyntax
	}
	q, _ := json.Marshal(s)
	return append(dst, q...), nil
}

func decodedKey(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(tok, &s)
	return s
}

func (p *jsonScanner) number(dst []byte) ([]byte, error) {
	start := p.i
	integer := true
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c >= '0' && c <= '9' || c == '-' {
			p.i++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' || c == '+' {
			integer = false
			p.i++
			continue
		}
		break
	}
	tok := p.src[start:p.i]
	if !validJSONNumber(tok) {
		return dst, errJSONSyntax
	}
	if integer {
		if string(tok) == "-0" {
			return append(dst, '0'), nil
		}
		return append(dst, tok...), nil
	}
	r, ok := new(big.Rat).SetString(string(tok))
	if !ok {
		return dst, errJSONSyntax
	}
	return append(dst, r.RatString()...), nil
}

// validJSONNumber checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

func (p *jsonScanner) array(dst []byte) ([]byte, error) {
	p.i++ // [
	dst = append(dst, '[')
	p.ws()
	if p.i < len(p.src) && p.src[p.i] == ']' {
		p.i++
		return append(dst, ']'), nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			dst = append(dst, ',')
		}
		p.ws()
		var err error
		if dst, err = p.value(dst); err != nil {
			return dst, err
		}
		p.ws()
		if p.i >= len(p.src) {
			return dst, errJSONSyntax
		}
		switch p.src[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return append(dst, ']'), nil
		default:
			return dst, errJSONSyntax
		}
	}
}

type member struct {
	key        string
	start, end int // of `"key":value` in dst
}

// object writes the members in source order, then reorders them in place when their keys are not sorted. A
// repeated key keeps its last value, as encoding/json and jsonb do.
func (p *jsonScanner) object(dst []byte) ([]byte, error) {
	p.i++ // {
	base := len(dst)
	dst = append(dst, '{')
	p.ws()
	if p.i < len(p.src) && p.src[p.i] == '}' {
		p.i++
		return append(dst, '}'), nil
	}
	var small [24]member
	members := small[:0]
	sorted := true
	for {
		p.ws()
		if p.i >= len(p.src) || p.src[p.i] != '"' {
			return dst, errJSONSyntax
		}
		tok, err := p.stringToken()
		if err != nil {
			return dst, err
		}
		key := decodedKey(tok)
		if len(members) > 0 {
			dst = append(dst, ',')
		}
		start := len(dst)
		if dst, err = appendCanonicalString(dst, tok); err != nil {
			return dst, err
		}
		p.ws()
		if p.i >= len(p.src) || p.src[p.i] != ':' {
			return dst, errJSONSyntax
		}
		p.i++
		p.ws()
		dst = append(dst, ':')
		if dst, err = p.value(dst); err != nil {
			return dst, err
		}
		if n := len(members); n > 0 && members[n-1].key >= key {
			sorted = false
		}
		members = append(members, member{key: key, start: start, end: len(dst)})
		p.ws()
		if p.i >= len(p.src) {
			return dst, errJSONSyntax
		}
		if p.src[p.i] == ',' {
			p.i++
			continue
		}
		if p.src[p.i] != '}' {
			return dst, errJSONSyntax
		}
		p.i++
		break
	}
	if sorted {
		return append(dst, '}'), nil
	}
	body := append([]byte(nil), dst[base+1:]...)
	off := base + 1
	sort.SliceStable(members, func(i, j int) bool { return members[i].key < members[j].key })
	// Last value wins for a repeated key.
	uniq := members[:0]
	for i, m := range members {
		if i+1 < len(members) && members[i+1].key == m.key {
			continue
		}
		uniq = append(uniq, m)
	}
	dst = dst[:base+1]
	for i, m := range uniq {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, body[m.start-off:m.end-off]...)
	}
	return append(dst, '}'), nil
}
