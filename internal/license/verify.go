package license

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Reason is why a license was refused. The values are stable: they are metric attribute values and appear in errors.
type Reason string

// The refusal reasons.
const (
	ReasonMissing          Reason = "missing"
	ReasonMalformed        Reason = "malformed"
	ReasonBadSignature     Reason = "bad_signature"
	ReasonUnknownKID       Reason = "unknown_kid"
	ReasonBadAlgorithm     Reason = "unsupported_algorithm"
	ReasonExpired          Reason = "expired"
	ReasonNotYetValid      Reason = "not_yet_valid"
	ReasonRevoked          Reason = "revoked"
	ReasonClientIDMismatch Reason = "client_id_mismatch"
	ReasonInvalidClaims    Reason = "invalid_claims"
	ReasonWrongIssuer      Reason = "wrong_issuer"
	ReasonWrongAudience    Reason = "wrong_audience"
)

// AllReasons lists every refusal reason.
func AllReasons() []Reason {
	return []Reason{ReasonMissing, ReasonMalformed, ReasonBadSignature, ReasonUnknownKID, ReasonBadAlgorithm,
		ReasonExpired, ReasonNotYetValid, ReasonRevoked, ReasonClientIDMismatch, ReasonInvalidClaims,
		ReasonWrongIssuer, ReasonWrongAudience}
}

// Error is a refusal. Its message names the reason only: it never contains the credential.
type Error struct {
	Reason Reason
}

func (e *Error) Error() string { return "license rejected: " + string(e.Reason) }

// Refuse returns an *Error for reason.
func Refuse(reason Reason) error { return &Error{Reason: reason} }

// ReasonOf returns the reason of a refusal error, or ReasonMalformed for any other error.
func ReasonOf(err error) Reason {
	var le *Error
	if errors.As(err, &le) {
		return le.Reason
	}
	return ReasonMalformed
}

// Verifier checks licenses offline against a key set.
type Verifier struct {
	keys          KeySet
	leeway        time.Duration
	now           func() time.Time
	issuer        string
	audience      string
	requireIssAud bool
}

// NewVerifier returns a verifier; leeway tolerates clock skew on exp, nbf and iat. It expects iss Issuer and aud
// Audience and accepts licenses carrying neither (issued before iss/aud existed; see Claims.Legacy); change that
// with WithIssuerAudience.
func NewVerifier(keys KeySet, leeway time.Duration) *Verifier {
	return &Verifier{keys: keys, leeway: leeway, now: time.Now, issuer: Issuer, audience: Audience}
}

// WithIssuerAudience sets the expected `iss` and `aud`. A license carrying either claim must carry both with these
// values; a license carrying neither (a legacy license) is refused when require is set, else accepted.
func (v *Verifier) WithIssuerAudience(issuer, audience string, require bool) *Verifier {
	v.issuer, v.audience, v.requireIssAud = issuer, audience, require
	return v
}

// WithClock replaces the verifier's clock (tests, and callers that share one clock with a cache).
func (v *Verifier) WithClock(now func() time.Time) *Verifier {
	v.now = now
	return v
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// Verify checks the token's structure and encoding (one canonical spelling, see canonicalSegment), algorithm, key
// id, signature, time claims and required claims.
//
// The header is inspected before the JWT library runs so that the algorithm is pinned to EdDSA by us, whatever the
// token says: `none` and HMAC keyed with the public key are refused before any key is looked up.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, Refuse(ReasonMissing)
	}
	// Exactly one spelling of a license is accepted (see canonicalSegment): each segment is checked before it is
	// used and before any signature work, so a re-spelled license is malformed and can neither verify nor become a
	// new cache entry in licenseauth.
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, Refuse(ReasonMalformed)
	}
	rawHeader, ok := canonicalSegment(parts[0])
	if !ok {
		return nil, Refuse(ReasonMalformed)
	}
	var h header
	if err := json.Unmarshal(rawHeader, &h); err != nil {
		return nil, Refuse(ReasonMalformed)
	}
	if h.Alg != Algorithm {
		return nil, Refuse(ReasonBadAlgorithm)
	}
	key, ok := v.keys[h.Kid]
	if !ok {
		return nil, Refuse(ReasonUnknownKID)
	}
	if _, ok := canonicalSegment(parts[1]); !ok {
		return nil, Refuse(ReasonMalformed)
	}
	if sig, ok := canonicalSegment(parts[2]); !ok || len(sig) != ed25519.SignatureSize {
		return nil, Refuse(ReasonMalformed)
	}
	claims := &Claims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithLeeway(v.leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(), // already implied by the checks above; kept so the library never decodes leniently
	)
	_, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil })
	if err != nil {
		return nil, Refuse(classify(err))
	}
	if err := claims.validateRequired(); err != nil {
		return nil, Refuse(ReasonInvalidClaims)
	}
	if !claims.Legacy() || v.requireIssAud {
		if claims.Issuer != v.issuer {
			return nil, Refuse(ReasonWrongIssuer)
		}
		if !audienceIs(claims.Audience, v.audience) {
			return nil, Refuse(ReasonWrongAudience)
		}
	}
	return claims, nil
}

// Legacy reports whether the license carries neither `iss` nor `aud`: issued before they were added.
func (c *Claims) Legacy() bool { return c.Issuer == "" && len(c.Audience) == 0 }

// audienceIs reports whether aud is exactly want (one value: govctl issues a single audience, and a license meant
// for several audiences is not one govcol issued).
func audienceIs(aud jwt.ClaimStrings, want string) bool {
	return len(aud) == 1 && aud[0] == want
}

// rawURL is the only encoding of a license segment: RFC 7515 base64url without padding, with zero trailing bits.
var rawURL = base64.RawURLEncoding.Strict()

// canonicalSegment decodes one dot-separated segment of a license and reports whether it is in its canonical
// spelling: non-empty, only the characters A-Z a-z 0-9 - _ (no padding, no standard-alphabet + or /, no whitespace
// or line breaks, which Go's decoders otherwise skip), a length that is not 1 mod 4, and zero unused bits in the
// last character. Every non-empty byte string has exactly one such spelling.
func canonicalSegment(s string) ([]byte, bool) {
	if s == "" || len(s)%4 == 1 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, false
		}
	}
	b, err := rawURL.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}

func classify(err error) Reason {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ReasonBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing), errors.Is(err, jwt.ErrTokenInvalidClaims):
		return ReasonInvalidClaims
	default:
		return ReasonMalformed
	}
}

// Inspect decodes a license without verifying it (for `govctl license inspect`).
func Inspect(token string) (map[string]any, map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("a license has three dot-separated parts")
	}
	decode := func(s string) (map[string]any, error) {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		return out, json.Unmarshal(raw, &out)
	}
	h, err := decode(parts[0])
	if err != nil {
		return nil, nil, errors.New("header is not base64url JSON")
	}
	p, err := decode(parts[1])
	if err != nil {
		return nil, nil, errors.New("payload is not base64url JSON")
	}
	return h, p, nil
}
