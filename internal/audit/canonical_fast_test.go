package audit

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The allocation-free pieces of the canonical encoding agree with their definitions.

// canonicalStrReference is the canonical form of the JSON string whose value is s: json.Marshal, then the scanner's
// canonicalization of the token (the path an exporter's JSON column takes).
func canonicalStrReference(t testing.TB, s string) string {
	q, err := json.Marshal(s)
	require.NoError(t, err)
	c, err := CanonicalJSON(q)
	require.NoError(t, err)
	return c
}

func TestAppendCanonicalStr(t *testing.T) {
	for _, s := range []string{"", "plain", "é", "😀", "\u2028\u2029", "<>&", "\"\\", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"\xff", "a\xc3(b", "\xed\xa0\x80", "\uFFFD", "\xf4\x90\x80\x80"} {
		got, valid := appendCanonicalStrValid(nil, s)
		assert.Equal(t, canonicalStrReference(t, s), string(got), "%q", s)
		assert.Equal(t, utf8.ValidString(s), valid, "%q", s)
		if valid {
			q, _ := json.Marshal(s)
			assert.Equal(t, string(q), string(got), "%q", s)
		}
	}
}

// The eight-bytes-at-a-time scan: every byte value at every position of plain runs of several lengths (so that it
// falls in a word, in the tail, or across both), alone and beside the other special bytes, agrees with the
// reference; needsEscape8 agrees with a byte-by-byte test.
func TestAppendCanonicalStrWordAtATime(t *testing.T) {
	special := func(b byte) bool {
		return b < 0x20 || b >= 0x80 || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&'
	}
	for n := 1; n <= 24; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("abcdefgh", 3)[:n])
				b[pos] = byte(c)
				if n >= 8 {
					want := false
					for _, x := range b[:8] {
						want = want || special(x)
					}
					require.Equal(t, want, needsEscape8(string(b[:8])), "%q", b[:8])
				}
				s := string(b)
				if got, want := string(appendCanonicalStr(nil, s)), canonicalStrReference(t, s); got != want {
					t.Fatalf("%q: %q, reference %q", s, got, want)
				}
			}
		}
	}
	// Random words, several special bytes at once.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("az09 \x00\x1f\x20\x21\"#%&'<=>?[\\]\x7f\x80\xbf\xc3\xff")
	for range 200000 {
		var w [8]byte
		want := false
		for i := range w {
			w[i] = alphabet[rng.IntN(len(alphabet))]
			want = want || special(w[i])
		}
		require.Equal(t, want, needsEscape8(string(w[:])), "%q", w)
	}
	// Longer texts: multi-byte runes, escapes and invalid UTF-8 straddling word boundaries.
	for _, s := range []string{
		strings.Repeat("x", 1000) + "é" + strings.Repeat("y", 7) + "\n",
		strings.Repeat("ключ значение ", 40), strings.Repeat("\u2028a\x00bcdefg<>&\"", 30),
		strings.Repeat("abcdefg\xff", 20) + strings.Repeat("😀", 9) + "\xed\xa0\x80tail",
	} {
		got, valid := appendCanonicalStrValid(nil, s)
		assert.Equal(t, canonicalStrReference(t, s), string(got), "%q", s)
		assert.Equal(t, utf8.ValidString(s), valid, "%q", s)
	}
}

// needsEscape8 reports whether any of the 8 bytes of s is not written as it is by appendCanonicalStrValid.
func needsEscape8(s string) bool { return wordNeedsEscape(load8(s)) }

func FuzzAppendCanonicalStr(f *testing.F) {
	for _, s := range []string{"a", "\xff<", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendCanonicalStr(nil, s)), canonicalStrReference(t, s); got != want {
			t.Fatalf("%q: %q, reference %q", s, got, want)
		}
	})
}

// ratReference is the definition of a non-integer number's canonical form.
func ratReference(tok string) string {
	r, ok := new(big.Rat).SetString(tok)
	if !ok {
		return "!"
	}
	return r.RatString()
}

func TestAppendCanonicalNumber(t *testing.T) {
	for _, tok := range []string{"0.0", "-0.0", "1.5", "-1.5", "0.1", "1e2", "1E+2", "1e-2", "-2.5e-3", "0.000123",
		"123.456e10", "1e19", "1e20", "18446744073709551615.0", "18446744073709551616.0", "1.8446744073709551615e19",
		"9999999999999999999.5", "0.00000000000000000001", "1e-19", "3e-19", "1e-20", "1234567890123456789e-19",
		"5e-324", "1.7976931348623157e308", "0e5", "0.0e-999999", "1e1000", "100.000", "1.0000000000000000000000001",
		"10000000000000000000000000000000e-30", "4.9e-300", "2.2250738585072014e-308"} {
		got, err := appendCanonicalNumber(nil, []byte(tok))
		require.NoError(t, err, tok)
		assert.Equal(t, ratReference(tok), string(got), tok)
	}
	for _, tok := range []string{"0", "-0", "12", "-7", "123456789012345678901234567890"} {
		got, err := appendCanonicalNumber(nil, []byte(tok))
		require.NoError(t, err)
		want := tok
		if tok == "-0" {
			want = "0"
		}
		assert.Equal(t, want, string(got))
	}
}

func FuzzAppendCanonicalNumber(f *testing.F) {
	f.Add(int64(15), uint8(1), int16(0), 0.1)
	f.Add(int64(-123456789), uint8(12), int16(-30), 5e-324)
	f.Fuzz(func(t *testing.T, mant int64, frac uint8, exp int16, d float64) {
		// A token built from parts, and a float64 as encoding/json writes it.
		digits := strconv.FormatInt(mant, 10)
		neg := digits[0] == '-'
		if neg {
			digits = digits[1:]
		}
		n := int(frac) % (len(digits) + 1)
		tok := digits[:len(digits)-n]
		if tok == "" {
			tok = "0"
		}
		if n > 0 {
			tok += "." + digits[len(digits)-n:]
		}
		if exp%3 != 0 {
			tok += "e" + strconv.Itoa(int(exp)%400)
		}
		if neg {
			tok = "-" + tok
		}
		toks := []string{tok}
		if !math.IsNaN(d) && !math.IsInf(d, 0) {
			toks = append(toks, string(appendJSONFloat(nil, d)))
		}
		for _, tok := range toks {
			if !validJSONNumber([]byte(tok)) {
				continue
			}
			got, err := appendCanonicalNumber(nil, []byte(tok))
			if err != nil {
				t.Fatal(tok, err)
			}
			want := ratReference(tok)
			if !bytesContainAny(tok, ".eE") {
				want = tok
				if tok == "-0" {
					want = "0"
				}
			}
			if string(got) != want {
				t.Fatalf("%s: %s, reference %s", tok, got, want)
			}
		}
	})
}

func bytesContainAny(s, chars string) bool {
	for i := range len(s) {
		for j := range len(chars) {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

func TestAppendJSONFloat(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e20, 1e21, 1e-6, 1e-7, 9.999e-7, 5e-324,
		math.MaxFloat64, 123456.789, 1.0 / 3, 2.5e-6, 1e-9, 1.5e-10} {
		want, err := json.Marshal(f)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendJSONFloat(nil, f)), "%v", f)
	}
}

func TestAppendCanonicalTime(t *testing.T) {
	zone := time.FixedZone("x", 5*3600+1800)
	for _, tm := range []time.Time{
		{}, time.Unix(0, 0), time.Date(2026, 11, 23, 10, 47, 15, 123668999, zone), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 500, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 1000, zone),
	} {
		want := tm.UTC().Truncate(time.Microsecond).Format(timeLayout)
		assert.Equal(t, want, CanonicalTime(tm))
	}
}

// canon.lower writes what text(strings.ToLower(s)) writes: ASCII lower-cased in place, anything else through
// strings.ToLower.
func TestCanonLower(t *testing.T) {
	for _, s := range []string{"", "01A2026F-3DE8-77F2-817F-3E5BBAFC48D6", "01a2026f-3de8-77f2-817f-3e5bbafc48d6", "AZaz@[`{",
		"İSTANBUL", "ÀB", "aẞ", "\xffAB", "A\u212a", strings.Repeat("Q", 300)} {
		var got, want canon
		got.b, want.b = []byte("prefix"), []byte("prefix")
		got.lower(s)
		want.text(strings.ToLower(s))
		assert.Equal(t, want.b, got.b, "%q", s)
	}
}
