package license

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// respell returns spellings of tok other than the canonical one: for each segment, every value of the unused low
// bits of its last character, padding, the standard alphabet (+ and / for - and _), line breaks (which Go's base64
// decoders skip, even in strict mode) and a space. Lenient decoders read most of them as the same bytes.
func respell(tok string) map[string]string {
	parts := strings.Split(tok, ".")
	out := map[string]string{}
	for i, seg := range parts {
		name := []string{"header", "payload", "signature"}[i]
		with := func(s string) string {
			p := append([]string(nil), parts...)
			p[i] = s
			return strings.Join(p, ".")
		}
		unused := map[int]int{2: 4, 3: 2}[len(seg)%4] // 2 chars -> 8 bits (4 unused); 3 chars -> 16 bits (2 unused)
		last := strings.IndexByte(b64url, seg[len(seg)-1])
		for v := 1; v < 1<<unused; v++ {
			out[fmt.Sprintf("%s trailing bits %#x", name, v)] = with(seg[:len(seg)-1] + string(b64url[last^v]))
		}
		if pad := (4 - len(seg)%4) % 4; pad > 0 {
			out[name+" padded"] = with(seg + strings.Repeat("=", pad))
		}
		out[name+" extra padding"] = with(seg + "====")
		if std := strings.NewReplacer("-", "+", "_", "/").Replace(seg); std != seg {
			out[name+" standard alphabet"] = with(std)
		}
		out[name+" CRLF inside"] = with(seg[:len(seg)/2] + "\r\n" + seg[len(seg)/2:])
		out[name+" LF at end"] = with(seg + "\n")
		out[name+" space inside"] = with(seg[:len(seg)/2] + " " + seg[len(seg)/2:])
	}
	return out
}

// fixedLicense is a deterministic license (fixed key, claims and times) and a verifier whose clock is inside its
// validity. Its segments are chosen to exercise every re-spelling: the signature has 4 unused bits and contains - or
// _ (so the standard-alphabet spelling differs).
func fixedLicense(t *testing.T) (string, *Verifier) {
	t.Helper()
	seed := sha256.Sum256([]byte("govcol strict license decoding"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	now := time.Unix(1_800_000_000, 0)
	tok, err := Issue(priv, Claims{OrgID: "org-a", TenantID: "tenant-a", Tier: "team", RegisteredClaims: jwt.RegisteredClaims{
		Subject: "client-a", ID: "lic_fixed", IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}})
	require.NoError(t, err)
	sig := strings.Split(tok, ".")[2]
	require.Equal(t, 2, len(sig)%4, "an Ed25519 signature is 86 characters: 4 unused bits")
	require.True(t, strings.ContainsAny(sig, "-_"), "pick another seed: the signature needs a - or _")
	return tok, NewVerifier(KeySet{KeyID(pub): pub}, 0).WithClock(func() time.Time { return now.Add(time.Minute) })
}

// TestVerifyAcceptsOneSpellingPerLicense: the canonical spelling verifies; every other spelling of the same license
// is refused as malformed. Before strict decoding, the 15 other values of the signature's unused bits and the
// spellings with line breaks in the signature verified as the same license.
func TestVerifyAcceptsOneSpellingPerLicense(t *testing.T) {
	tok, v := fixedLicense(t)
	got, err := v.Verify(tok)
	require.NoError(t, err)
	require.Equal(t, "client-a", got.ClientID())

	variants := respell(tok)
	require.GreaterOrEqual(t, len(variants), 15+3*6, "the generator produced every kind of spelling")
	sigBits := 0
	for name, alt := range variants {
		if strings.HasPrefix(name, "signature trailing bits") {
			sigBits++
			// These are true re-spellings: a lenient decoder reads the same 64 signature bytes.
			lenient, err := base64.RawURLEncoding.DecodeString(strings.Split(alt, ".")[2])
			require.NoError(t, err)
			canonical, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[2])
			require.Equal(t, canonical, lenient)
		}
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, tok, alt)
			_, err := v.Verify(alt)
			require.Error(t, err, "a re-spelled license must be refused")
			require.Equal(t, ReasonMalformed, ReasonOf(err))
		})
	}
	require.Equal(t, 15, sigBits, "16 spellings of the signature existed: 15 must be refused")
}
