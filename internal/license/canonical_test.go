package license

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCanonicalSegment(t *testing.T) {
	for in, want := range map[string]bool{
		"e30": true, "AA": true, "AAA": true, "AAAA": true, "-_": false /* 2 chars, unused bits set */, "-w": true,
		"": false, "A": false, "AB": false, "AAB": false, "AA==": false, "AAA=": false, "+w": false, "/w": false,
		"A\nA": false, "A\rA": false, "AA\n": false, " AA": false, "AA ": false, "A.A": false, "AÅ": false,
	} {
		_, ok := canonicalSegment(in)
		require.Equal(t, want, ok, "%q", in)
	}
	// Round trip: every canonical encoding is accepted.
	for n := 1; n < 70; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + n)
		}
		got, ok := canonicalSegment(base64.RawURLEncoding.EncodeToString(b))
		require.True(t, ok, n)
		require.Equal(t, b, got)
	}
}
