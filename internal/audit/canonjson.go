package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
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
	return appendCanonicalStr(dst, s), nil
}

// decodedKey returns an object key for sorting: the token's inner bytes when it has no escapes (a slice of the
// source, no copy), else the decoded string.
func decodedKey(tok []byte) []byte {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var s string
	_ = json.Unmarshal(tok, &s)
	return []byte(s)
}

// appendCanonicalStr appends the canonical form of the JSON string whose value is s: what encoding/json writes for
// s (HTML-safe escapes, \u2028 and \u2029 escaped), except that each byte of invalid UTF-8 becomes a raw U+FFFD
// rather than encoding/json's \ufffd escape, since the canonical form is the re-encoding of the decoded value.
// It allocates nothing (json.Marshal would).
func appendCanonicalStr(dst []byte, s string) []byte {
	dst, _ = appendCanonicalStrValid(dst, s)
	return dst
}

// jsonSafeASCII marks the ASCII bytes encoding/json writes as they are (with HTML escaping on).
var jsonSafeASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendCanonicalStrValid is appendCanonicalStr also reporting whether s is valid UTF-8.
func appendCanonicalStrValid(dst []byte, s string) (out []byte, valid bool) {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	valid = true
	start := 0
	for i := 0; i < len(s); {
		// Skip eight bytes at a time while none needs attention (most of a record's strings are plain ASCII).
		for i+8 <= len(s) && !wordNeedsEscape(load8(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafeASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			valid = false
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), valid
}

// load8 reads the first 8 bytes of s as a word (the byte order does not matter to wordNeedsEscape).
func load8(s string) uint64 { return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8)) }

// wordNeedsEscape is needsEscape8 of a word (SWAR: (v-lo)&^v has a byte's high bit set where a byte of v is zero —
// or, for v = x-0x20*lo, below 0x20 — and no high bit set when no byte is).
func wordNeedsEscape(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b, l, g, a := x^('"'*lo), x^('\\'*lo), x^('<'*lo), x^('>'*lo), x^('&'*lo)
	return (x|(x-0x20*lo)&^x|(q-lo)&^q|(b-lo)&^b|(l-lo)&^l|(g-lo)&^g|(a-lo)&^a)&hi != 0
}

func (p *jsonScanner) number(dst []byte) ([]byte, error) {
	start := p.i
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c >= '0' && c <= '9' || c == '-' || c == '.' || c == 'e' || c == 'E' || c == '+' {
			p.i++
			continue
		}
		break
	}
	tok := p.src[start:p.i]
	if !validJSONNumber(tok) {
		return dst, errJSONSyntax
	}
	return appendCanonicalNumber(dst, tok)
}

// appendCanonicalNumber appends the canonical form of a valid JSON number token: an integer as written ("-0" as
// 0), any other number as its exact value in big.Rat.RatString form ("a" or "a/b" in lowest terms), computed in
// uint64 arithmetic when it fits (smallRat) and with big.Rat otherwise.
func appendCanonicalNumber(dst, tok []byte) ([]byte, error) {
	if bytes.IndexAny(tok, ".eE+") < 0 {
		if string(tok) == "-0" {
			return append(dst, '0'), nil
		}
		return append(dst, tok...), nil
	}
	if out, ok := appendSmallRat(dst, tok); ok {
		return out, nil
	}
	r, ok := new(big.Rat).SetString(string(tok))
	if !ok {
		return dst, errJSONSyntax
	}
	return append(dst, r.RatString()...), nil
}

// appendSmallRat is big.Rat.RatString of the valid JSON number tok when its significant digits fit in a uint64 and
// the result's numerator and denominator do too; ok is false otherwise (the caller then uses big.Rat).
func appendSmallRat(dst, tok []byte) (out []byte, ok bool) {
	i, neg := 0, tok[0] == '-'
	if neg {
		i++
	}
	var m uint64 // significant digits, leading zeros dropped
	digits, exp := 0, 0
	for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
		if m == 0 && tok[i] == '0' {
			continue
		}
		if digits == 19 {
			return dst, false
		}
		m, digits = m*10+uint64(tok[i]-'0'), digits+1
	}
	if i < len(tok) && tok[i] == '.' {
		for i++; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
			exp--
			if m == 0 && tok[i] == '0' {
				continue
			}
			if digits == 19 {
				return dst, false
			}
			m, digits = m*10+uint64(tok[i]-'0'), digits+1
		}
	}
	if i < len(tok) { // exponent
		i++
		eneg := false
		if tok[i] == '+' || tok[i] == '-' {
			eneg = tok[i] == '-'
			i++
		}
		e := 0
		for ; i < len(tok); i++ {
			if e = e*10 + int(tok[i]-'0'); e > 1000 {
				return dst, false
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if m == 0 {
		return append(dst, '0'), true
	}
	for m%10 == 0 {
		m /= 10
		exp++
	}
	if neg {
		dst = append(dst, '-')
	}
	if exp >= 0 {
		for ; exp > 0; exp-- {
			if m > (1<<64-1)/10 {
				return dst, false
			}
			m *= 10
		}
		return strconv.AppendUint(dst, m, 10), true
	}
	if exp < -19 {
		return dst, false
	}
	den := uint64(1)
	for ; exp < 0; exp++ {
		den *= 10
	}
	a, b := m, den
	for b != 0 {
		a, b = b, a%b
	}
	dst = strconv.AppendUint(dst, m/a, 10)
	if den/a != 1 {
		dst = append(dst, '/')
		dst = strconv.AppendUint(dst, den/a, 10)
	}
	return dst, true
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
	key        []byte // decoded; usually a slice of the source (decodedKey)
	start, end int    // of `"key":value` in dst
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
	var small [16]member // on the stack for most objects
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
		if n := len(members); n > 0 && bytes.Compare(members[n-1].key, key) >= 0 {
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
	// Copy the members' bytes past the end of dst, then write them back sorted over the original place: the sorted
	// body is never longer than the original, so writing never reaches the copy.
	body := len(dst)
	dst = append(dst, dst[base+1:body]...)
	shift := body - (base + 1)
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	w := base + 1
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, m.key) {
			continue // last value wins for a repeated key
		}
		if w > base+1 {
			dst[w] = ','
			w++
		}
		w += copy(dst[w:], dst[m.start+shift:m.end+shift])
	}
	dst = append(dst[:w], '}')
	return dst, nil
}
