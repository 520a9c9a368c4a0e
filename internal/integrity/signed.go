package integrity

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/govcol/govcol/internal/license"
)

// signedPayload is the byte string an integrity signature covers: a domain-separation prefix (magic, distinct per
// kind of signed object, so no signature of one kind passes as another's), then each field as a 4-byte big-endian
// length and its bytes. Checkpoints, registry entries and retention markers all use it.
func signedPayload(magic []byte, fields ...string) []byte {
	n := len(magic)
	for _, s := range fields {
		n += 4 + len(s)
	}
	b := append(make([]byte, 0, n), magic...)
	for _, s := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// sign returns the base64 Ed25519 signature of payload.
func sign(key ed25519.PrivateKey, payload []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, payload))
}

// errBadSignature is returned when a signature does not verify under its key.
var errBadSignature = errors.New("signature does not verify")

// verifySignature checks a base64 Ed25519 signature of payload against the key named keyID in keys (key rotation:
// any known key id).
func verifySignature(keys license.KeySet, keyID, signature string, payload []byte) error {
	pub, ok := keys[keyID]
	if !ok {
		return fmt.Errorf("unknown key id %q", keyID)
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || !ed25519.Verify(pub, payload, sig) {
		return errBadSignature
	}
	return nil
}
