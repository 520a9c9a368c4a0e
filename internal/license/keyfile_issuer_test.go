package license

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// Issue 17, finding 7: a key pair written over an existing 0644 private key leaves it 0600, written atomically (no
// temporary file left behind).
func TestWriteKeyPairOverLooseFileIs0600(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub.pem")
	require.NoError(t, os.WriteFile(priv, []byte("old"), 0o644))
	require.NoError(t, os.Chmod(priv, 0o644))
	_, err := WriteKeyPair(priv, pub)
	require.NoError(t, err)
	info, err := os.Stat(priv)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file is left behind")
	_, err = LoadPrivateKeyFile(priv)
	require.NoError(t, err)
}

// Issue 17, finding 7: a group- or world-readable private key is refused on load, naming the file and the fix.
func TestLoadPrivateKeyFileRefusesLoosePermissions(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "k.key")
	_, err := WriteKeyPair(priv, filepath.Join(dir, "k.pub.pem"))
	require.NoError(t, err)
	data, err := os.ReadFile(priv)
	require.NoError(t, err)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		require.NoError(t, os.Chmod(priv, mode))
		_, err := LoadPrivateKeyFile(priv)
		require.Error(t, err, "%04o", mode)
		require.ErrorContains(t, err, priv)
		require.ErrorContains(t, err, "chmod 600 "+priv)
		require.NotContains(t, err.Error(), string(data))
	}
	require.NoError(t, os.Chmod(priv, 0o400))
	_, err = LoadPrivateKeyFile(priv)
	require.NoError(t, err)
}

// Issue 17, finding 7: licenses carry iss and aud; wrong values are refused, licenses without both are accepted
// (legacy) unless the verifier requires them.
func TestIssuerAudience(t *testing.T) {
	pub, priv := mustKey(t)
	ks := KeySet{KeyID(pub): pub}
	now := time.Now()
	issue := func(mutate func(*Claims)) string {
		c := NewClaims("o", "t", "c", "", "", now, time.Hour)
		mutate(&c)
		tok, err := Issue(priv, c)
		require.NoError(t, err)
		return tok
	}
	good := issue(func(*Claims) {})
	got, err := NewVerifier(ks, 0).Verify(good)
	require.NoError(t, err)
	require.Equal(t, Issuer, got.Issuer)
	require.Equal(t, jwt.ClaimStrings{Audience}, got.Audience)
	require.False(t, got.Legacy())

	legacy := issue(func(c *Claims) { c.Issuer, c.Audience, c.Scope = "", nil, "" })
	got, err = NewVerifier(ks, 0).Verify(legacy)
	require.NoError(t, err, "a license issued before iss/aud is accepted by default")
	require.True(t, got.Legacy())
	require.Equal(t, ScopeIngest, got.EffectiveScope(), "no scope claim is an ingest license")
	_, err = NewVerifier(ks, 0).WithIssuerAudience(Issuer, Audience, true).Verify(legacy)
	require.Equal(t, ReasonWrongIssuer, ReasonOf(err))

	for name, tc := range map[string]struct {
		mutate func(*Claims)
		want   Reason
	}{
		"other issuer":      {func(c *Claims) { c.Issuer = "someone-else" }, ReasonWrongIssuer},
		"issuer only":       {func(c *Claims) { c.Audience = nil }, ReasonWrongAudience},
		"audience only":     {func(c *Claims) { c.Issuer = "" }, ReasonWrongIssuer},
		"other audience":    {func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} }, ReasonWrongAudience},
		"two audiences":     {func(c *Claims) { c.Audience = jwt.ClaimStrings{Audience, "other"} }, ReasonWrongAudience},
		"unknown scope":     {func(c *Claims) { c.Scope = "root" }, ReasonInvalidClaims},
		"global ingest":     {func(c *Claims) { c.Global = true }, ReasonInvalidClaims},
		"read_tenant admin": {func(c *Claims) { c.Scope, c.ReadTenant = ScopeAdmin, true }, ReasonInvalidClaims},
	} {
		t.Run(name, func(t *testing.T) {
			c := NewClaims("o", "t", "c", "", "", now, time.Hour)
			tc.mutate(&c)
			tok, err := jwtSign(priv, c)
			require.NoError(t, err)
			_, err = NewVerifier(ks, 0).Verify(tok)
			require.Equal(t, tc.want, ReasonOf(err))
			require.False(t, strings.Contains(err.Error(), tok))
		})
	}
	_, err = NewVerifier(ks, 0).WithIssuerAudience("acme-issuer", "acme", false).Verify(good)
	require.Equal(t, ReasonWrongIssuer, ReasonOf(err), "configured values replace the defaults")
}

// jwtSign signs claims without Issue's validation, as a hostile or foreign issuer would.
func jwtSign(priv ed25519.PrivateKey, c Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = KeyID(priv.Public().(ed25519.PublicKey))
	return tok.SignedString(priv)
}
