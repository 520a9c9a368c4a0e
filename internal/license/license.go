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
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is the only JWS algorithm a license may use.
const Algorithm = "EdDSA"

// Scope is what a license may do. A license without a scope claim is an ingest license: licenses issued before
// scopes existed keep sending telemetry and read nothing.
type Scope string

// The scopes.
const (
	// ScopeIngest sends telemetry (OTLP receivers) and reads nothing.
	ScopeIngest Scope = "ingest"
	// ScopeRead reads the audit API: with an email, the holder's own records only, unless `read_tenant` grants the
	// license's whole tenant.
	ScopeRead Scope = "read"
	// ScopeAdmin reads every tenant of the license's organisation, or every organisation when issued `global`.
	ScopeAdmin Scope = "admin"
)

// Valid reports whether s is one of the scopes.
func (s Scope) Valid() bool { return s == ScopeIngest || s == ScopeRead || s == ScopeAdmin }

// Issuer and Audience are the `iss` and `aud` of every license govctl issues and the values licenseauth expects by
// default. One audience for every scope: the scope claim, not the audience, decides what a license may do.
const (
	Issuer   = "govcol"
	Audience = "govcol"
)

// DefaultTTL is the default validity of a license (govctl license issue --ttl).
const DefaultTTL = 90 * 24 * time.Hour

// Claims is the payload of a license. The client id travels as the registered `sub` claim and the license id as
// `jti`; `email` is set only on per-developer licenses. `scope` (absent = ingest), `read_tenant` (read scope only)
// and `global` (admin scope only) decide what the license may read from the audit API.
type Claims struct {
	OrgID      string `json:"org_id"`
	TenantID   string `json:"tenant_id"`
	Tier       string `json:"tier,omitempty"`
	Email      string `json:"email,omitempty"`
	Scope      Scope  `json:"scope,omitempty"`
	ReadTenant bool   `json:"read_tenant,omitempty"`
	Global     bool   `json:"global,omitempty"`
	jwt.RegisteredClaims
}

// EffectiveScope is the license's scope, ingest when the claim is absent.
func (c *Claims) EffectiveScope() Scope {
	if c.Scope == "" {
		return ScopeIngest
	}
	return c.Scope
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
	case !c.EffectiveScope().Valid():
		return errors.New("scope claim must be ingest, read or admin")
	case c.ReadTenant && c.EffectiveScope() != ScopeRead:
		return errors.New("read_tenant applies to read-scope licenses only")
	case c.Global && c.EffectiveScope() != ScopeAdmin:
		return errors.New("global applies to admin-scope licenses only")
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

// NewClaims builds the claims of an ingest license valid from now for ttl, with a random license id, issuer Issuer
// and audience Audience. Set Scope, ReadTenant and Global on the result for a reading license.
func NewClaims(orgID, tenantID, clientID, tier, email string, now time.Time, ttl time.Duration) Claims {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return Claims{
		OrgID:    orgID,
		TenantID: tenantID,
		Tier:     tier,
		Email:    email,
		Scope:    ScopeIngest,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Audience:  jwt.ClaimStrings{Audience},
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
// public key (PKIX PEM, mode 0644) to pubPath. The same format signs licenses and audit checkpoints. Both files are
// written atomically (WriteFileAtomic): a crash leaves the old file or the new one, and a private key replacing an
// existing, looser file ends up 0600 all the same.
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
	if err := WriteFileAtomic(privPath, privPEM, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(pubPath, pubPEM, 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same directory: created with mode perm (never
// wider, whatever the umask or an existing file at path), written, fsynced, chmod'ed to perm, renamed over path, and
// the directory fsynced. Readers see the old content or the new, never a torn or briefly world-readable file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; set the final mode before any byte is written.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// LoadPrivateKeyFile reads a PKCS#8 Ed25519 private key from path, refusing a file that its group or other users
// may read or write: a signing key anyone else on the host can read signs licenses (or checkpoints) for them too.
// The error names the file and the fix and never contains key material.
func LoadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("private key %s is accessible by group or others (mode %04o); run `chmod 600 %s`", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	priv, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	return priv, nil
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
