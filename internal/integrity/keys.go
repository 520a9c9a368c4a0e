package integrity

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/govcol/govcol/internal/license"
)

// LoadSigningKey reads the checkpoint signing key from a PEM file (PKCS#8 Ed25519, as `govctl keygen` writes) or
// from inline text: PEM, or base64 of a 32-byte seed, a 64-byte private key, or the PEM itself. Exactly one of file
// and inline is set. The key id defaults to the RFC 7638 thumbprint of the public key, as for licenses.
func LoadSigningKey(file, inline, keyID string) (ed25519.PrivateKey, string, error) {
	var key ed25519.PrivateKey
	switch {
	case file != "" && inline != "":
		return nil, "", errors.New("set signing_key_file or signing_key, not both")
	case file != "":
		// Refuses a key file group or others can read: whoever reads it can sign checkpoints.
		k, err := license.LoadPrivateKeyFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("signing key: %w", err)
		}
		key = k
	case inline != "":
		s := strings.TrimSpace(inline)
		if !strings.HasPrefix(s, "-----BEGIN") {
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, "", errors.New("signing key: not PEM and not base64")
			}
			switch len(raw) {
			case ed25519.SeedSize:
				key = ed25519.NewKeyFromSeed(raw)
			case ed25519.PrivateKeySize:
				key = ed25519.PrivateKey(raw)
			default:
				s = string(raw)
			}
		}
		if key == nil {
			k, err := license.ParsePrivateKeyPEM([]byte(s))
			if err != nil {
				return nil, "", fmt.Errorf("signing key: %w", err)
			}
			key = k
		}
	default:
		return nil, "", nil
	}
	if keyID == "" {
		keyID = license.KeyID(key.Public().(ed25519.PublicKey))
	}
	return key, keyID, nil
}
