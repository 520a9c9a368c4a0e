package license

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

func mustKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := GenerateKey()
	require.NoError(t, err)
	return pub, priv
}

func TestIssueAndVerify(t *testing.T) {
	pub, priv := mustKey(t)
	now := time.Now()
	claims := NewClaims("org1", "ten1", "cli1", "enterprise", "dev@example.com", now, time.Hour)
	tok, err := Issue(priv, claims)
	require.NoError(t, err)

	v := NewVerifier(KeySet{KeyID(pub): pub}, 0)
	got, err := v.Verify(tok)
	require.NoError(t, err)
	require.Equal(t, "org1", got.OrgID)
	require.Equal(t, "ten1", got.TenantID)
	require.Equal(t, "cli1", got.ClientID())
	require.Equal(t, "enterprise", got.Tier)
	require.Equal(t, "dev@example.com", got.Email)
	require.True(t, strings.HasPrefix(got.LicenseID(), "lic_"))
}

func TestIssueRefusesIncompleteClaims(t *testing.T) {
	_, priv := mustKey(t)
	c := NewClaims("org1", "", "cli1", "", "", time.Now(), time.Hour)
	_, err := Issue(priv, c)
	require.ErrorContains(t, err, "tenant_id")
}

// sign builds a token with an arbitrary header and payload, signed by sign (raw signature bytes).
func rawToken(t *testing.T, header map[string]any, payload any, sign func([]byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	p, err := json.Marshal(payload)
	require.NoError(t, err)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func TestVerifyRefusals(t *testing.T) {
	pub, priv := mustKey(t)
	otherPub, otherPriv := mustKey(t)
	_ = otherPub
	kid := KeyID(pub)
	v := NewVerifier(KeySet{kid: pub}, 5*time.Second)
	now := time.Now()
	good := NewClaims("o", "t", "c", "", "", now, time.Hour)
	issue := func(c Claims) string {
		tok, err := Issue(priv, c)
		require.NoError(t, err)
		return tok
	}
	goodTok := issue(good)
	parts := strings.Split(goodTok, ".")

	expired := NewClaims("o", "t", "c", "", "", now.Add(-2*time.Hour), time.Hour)
	future := NewClaims("o", "t", "c", "", "", now.Add(time.Hour), time.Hour)
	withinLeeway := NewClaims("o", "t", "c", "", "", now.Add(3*time.Second), time.Hour)

	// A token signed by another key but claiming our kid.
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, good)
	forged.Header["kid"] = kid
	forgedTok, err := forged.SignedString(otherPriv)
	require.NoError(t, err)

	edSign := func(in []byte) []byte { return ed25519.Sign(priv, in) }
	hmacWithPublicKey := func(in []byte) []byte {
		m := hmac.New(sha256.New, pub)
		m.Write(in)
		return m.Sum(nil)
	}
	noClaims := map[string]any{"sub": "c", "exp": now.Add(time.Hour).Unix()}

	cases := []struct {
		name  string
		token string
		want  Reason
	}{
		{"empty", "", ReasonMissing},
		{"garbage", "not-a-jwt", ReasonMalformed},
		{"two parts", parts[0] + "." + parts[1], ReasonMalformed},
		{"bad header base64", "!!!." + parts[1] + "." + parts[2], ReasonMalformed},
		{"bad payload", parts[0] + ".e30x." + parts[2], ReasonMalformed},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"org_id":"evil","tenant_id":"t","sub":"c","jti":"x","exp":9999999999}`)) + "." + parts[2], ReasonBadSignature},
		{"signed by another key", forgedTok, ReasonBadSignature},
		{"unknown kid", rawToken(t, map[string]any{"alg": "EdDSA", "kid": "nope"}, good, edSign), ReasonUnknownKID},
		{"alg none", rawToken(t, map[string]any{"alg": "none", "kid": kid}, good, func([]byte) []byte { return nil }), ReasonBadAlgorithm},
		{"alg HS256 keyed with public key", rawToken(t, map[string]any{"alg": "HS256", "kid": kid}, good, hmacWithPublicKey), ReasonBadAlgorithm},
		{"alg RS256", rawToken(t, map[string]any{"alg": "RS256", "kid": kid}, good, edSign), ReasonBadAlgorithm},
		{"expired", issue(expired), ReasonExpired},
		{"not yet valid", issue(future), ReasonNotYetValid},
		{"missing org and tenant", rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid}, noClaims, edSign), ReasonInvalidClaims},
		{"missing exp", rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid}, map[string]any{"org_id": "o", "tenant_id": "t", "sub": "c", "jti": "j"}, edSign), ReasonInvalidClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token)
			require.Error(t, err)
			require.Equal(t, tc.want, ReasonOf(err))
			if tc.token != "" {
				require.NotContains(t, err.Error(), tc.token, "an error must never echo the credential")
			}
		})
	}
	t.Run("nbf within leeway accepted", func(t *testing.T) {
		_, err := v.Verify(issue(withinLeeway))
		require.NoError(t, err)
	})
}

func TestLoadKeySetRotation(t *testing.T) {
	dir := t.TempDir()
	oldPub, oldPriv := mustKey(t)
	newPub, newPriv := mustKey(t)
	pemOld, err := MarshalPublicKeyPEM(oldPub)
	require.NoError(t, err)
	pemNew, err := MarshalPublicKeyPEM(newPub)
	require.NoError(t, err)
	// Both keys in one PEM file.
	both := filepath.Join(dir, "keys.pem")
	require.NoError(t, os.WriteFile(both, append(pemOld, pemNew...), 0o600))
	ks, err := LoadKeySet([]string{both}, "")
	require.NoError(t, err)
	require.Len(t, ks, 2)
	v := NewVerifier(ks, 0)
	for _, priv := range []ed25519.PrivateKey{oldPriv, newPriv} {
		tok, err := Issue(priv, NewClaims("o", "t", "c", "", "", time.Now(), time.Hour))
		require.NoError(t, err)
		_, err = v.Verify(tok)
		require.NoError(t, err)
	}

	// JWKS with an explicit kid and one without.
	jwk := PublicJWK(newPub)
	jwk.Kid = "custom-kid"
	anon := PublicJWK(oldPub)
	anon.Kid = ""
	data, err := json.Marshal(JWKS{Keys: []JWK{jwk, anon}})
	require.NoError(t, err)
	jwksPath := filepath.Join(dir, "jwks.json")
	require.NoError(t, os.WriteFile(jwksPath, data, 0o600))
	ks, err = LoadKeySet(nil, jwksPath)
	require.NoError(t, err)
	require.Contains(t, ks, "custom-kid")
	require.Contains(t, ks, KeyID(oldPub))

	// A non-Ed25519 key in a JWKS is refused.
	require.NoError(t, os.WriteFile(jwksPath, []byte(`{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]}`), 0o600))
	_, err = LoadKeySet(nil, jwksPath)
	require.ErrorContains(t, err, "want OKP/Ed25519")

	_, err = LoadKeySet(nil, "")
	require.Error(t, err)
}

func TestKeyIDIsRFC7638Thumbprint(t *testing.T) {
	// RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)
	require.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", KeyID(ed25519.PublicKey(x)))
}

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	pub, priv := mustKey(t)
	data, err := MarshalPrivateKeyPEM(priv)
	require.NoError(t, err)
	back, err := ParsePrivateKeyPEM(data)
	require.NoError(t, err)
	require.True(t, back.Public().(ed25519.PublicKey).Equal(pub))
}
