// Package license defines govcol licenses: Ed25519-signed JWTs (alg EdDSA) that carry the organisation, tenant and
// client a collector request belongs to. It holds the pieces shared by the licenseauth extension (verification) and
// govctl (key generation, issuing, inspection), so that both agree on one wire format.
package license

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is the only JWS algorithm a license may use.
const Algorithm = "EdDSA"

// Claims is the payload of a license. The client id travels as the registered `sub` claim and the license id as
// `jti`; `email` is set only on per-developer licenses.
type Claims struct {
	OrgID    string `json:"org_id"`
	TenantID string `json:"tenant_id"`
	Tier     string `json:"tier,omitempty"`
	Email    string `json:"email,omitempty"`
	jwt.RegisteredClaims
}

// ClientID returns the client id (the `sub` claim).
func (c *Claims) ClientID() string { return c.Subject }

// LicenseID returns the license id (the `jti` claim).
func (c *Claims) LicenseID() string { return c.ID }

// validateRequired checks the claims every license must carry; the time claims are checked by the JWT parser.
func (c *Claims) validateRequired() error {
	switch {
	case c.OrgID == "":
		return errors.New("org_id claim is missing")
	case c.TenantID == "":
		return errors.New("tenant_id claim is missing")
	case c.Subject == "":
		return errors.New("sub (client id) claim is missing")
	case c.ID == "":
		return errors.New("jti (license id) claim is missing")
	case c.ExpiresAt == nil:
		return errors.New("exp claim is missing")
	}
	return nil
}

// GenerateKey returns a fresh Ed25519 key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// KeyID returns the RFC 7638 JWK thumbprint of an Ed25519 public key. It is used as the `kid` of licenses signed by
// the matching private key, so a PEM file needs no separate key id: the key names itself.
func KeyID(pub ed25519.PublicKey) string {
	// RFC 7638: the required members in lexicographic order, no whitespace.
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Issue signs claims with priv; the header carries the key id of priv's public half.
func Issue(priv ed25519.PrivateKey, claims Claims) (string, error) {
	if err := claims.validateRequired(); err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = KeyID(priv.Public().(ed25519.PublicKey))
	return tok.SignedString(priv)
}

// NewClaims builds the claims of a license valid from now for ttl, with a random license id.
func NewClaims(orgID, tenantID, clientID, tier, email string, now time.Time, ttl time.Duration) Claims {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return Claims{
		OrgID:    orgID,
		TenantID: tenantID,
		Tier:     tier,
		Email:    email,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   clientID,
			ID:        "lic_" + fmt.Sprintf("%x", id),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
}

// MarshalPrivateKeyPEM encodes priv as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// WriteKeyPair generates an Ed25519 key pair and writes the private key (PKCS#8 PEM, mode 0600) to privPath and the
// public key (PKIX PEM, mode 0644) to pubPath. The same format signs licenses and audit checkpoints.
func WriteKeyPair(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	privPEM, err := MarshalPrivateKeyPEM(priv)
	if err != nil {
		return nil, err
	}
	pubPEM, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(privPath, privPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

// ParsePrivateKeyPEM decodes a PKCS#8 Ed25519 private key.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want Ed25519", key)
	}
	return priv, nil
}

// ParsePublicKeysPEM decodes every PKIX Ed25519 public key in data (a file may hold several for rotation).
func ParsePublicKeysPEM(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("unexpected PEM block %q, want PUBLIC KEY", block.Type)
		}
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		pub, ok := key.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, want Ed25519", key)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}

// JWK is the subset of RFC 8037 OKP keys govcol reads and writes.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK returns the JWK of pub, with its thumbprint as kid.
func PublicJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: KeyID(pub), Alg: Algorithm, Use: "sig"}
}

// KeySet maps key ids to public keys.
type KeySet map[string]ed25519.PublicKey

// Add registers pub under kid, refusing a kid already bound to a different key.
func (ks KeySet) Add(kid string, pub ed25519.PublicKey) error {
	if prev, ok := ks[kid]; ok && !prev.Equal(pub) {
		return fmt.Errorf("key id %q is bound to two different keys", kid)
	}
	ks[kid] = pub
	return nil
}

// LoadKeySet reads public keys from PEM files (kid = RFC 7638 thumbprint) and a JWKS file (kid from the set, else the
// thumbprint). Non-Ed25519 keys in a JWKS are refused rather than skipped, so a misconfiguration is visible.
func LoadKeySet(pemFiles []string, jwksFile string) (KeySet, error) {
	ks := KeySet{}
	for _, path := range pemFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read public key file: %w", err)
		}
		pubs, err := ParsePublicKeysPEM(data)
		if err != nil {
			return nil, fmt.Errorf("public key file %s: %w", path, err)
		}
		for _, pub := range pubs {
			if err := ks.Add(KeyID(pub), pub); err != nil {
				return nil, err
			}
		}
	}
	if jwksFile != "" {
		data, err := os.ReadFile(jwksFile)
		if err != nil {
			return nil, fmt.Errorf("read JWKS file: %w", err)
		}
		var set JWKS
		if err := json.Unmarshal(data, &set); err != nil {
			return nil, fmt.Errorf("JWKS file %s: %w", jwksFile, err)
		}
		for i, k := range set.Keys {
			if k.Kty != "OKP" || k.Crv != "Ed25519" {
				return nil, fmt.Errorf("JWKS file %s: key %d is %s/%s, want OKP/Ed25519", jwksFile, i, k.Kty, k.Crv)
			}
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("JWKS file %s: key %d has an invalid x", jwksFile, i)
			}
			pub := ed25519.PublicKey(x)
			kid := k.Kid
			if kid == "" {
				kid = KeyID(pub)
			}
			if err := ks.Add(kid, pub); err != nil {
				return nil, err
			}
		}
	}
	if len(ks) == 0 {
		return nil, errors.New("no public keys configured")
	}
	return ks, nil
}
