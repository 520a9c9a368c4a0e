package integrity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/license"
)

// Kinds of chain registry entries.
const (
	// RegistryOpened: a chain was opened by a collector run (written when its first record is chained).
	RegistryOpened = "opened"
	// RegistrySealed: a later run of the same instance sealed the chain's stored tail after a crash.
	RegistrySealed = "sealed"
)

// RegistryEntry is one signed row of the chain registry (<table>_chains).
//
// An "opened" entry says that a chain exists: chain_id, tenant, the collector instance (service.instance.id) and
// when it opened, and Link names the chain the same instance opened before it (in this run, or the newest one
// registered when the run started; "" for the first), so the registry of an instance is itself a chain: removing a
// whole chain together with its records, checkpoints and registry entry leaves the next entry naming a chain that is
// not there. Seq is 0.
//
// A "sealed" entry is signed by a later run of the same instance for a chain whose run ended without a final
// checkpoint (a crash): it vouches for the stored tail up to Seq, whose record_hash is Link, and names in Lost the
// sequence numbers after the chain's last checkpoint that were never stored (records in flight at the crash).
// SealedBy is the sealing run (its chain id prefix: instance and start).
type RegistryEntry struct {
	Kind      string    `json:"kind"`
	ChainID   string    `json:"chain_id"`
	TenantID  string    `json:"tenant_id"`
	Instance  string    `json:"instance"`
	Seq       int64     `json:"seq"`
	Link      string    `json:"link"`
	Lost      Ranges    `json:"lost,omitempty"`
	SealedBy  string    `json:"sealed_by,omitempty"`
	SignedAt  time.Time `json:"signed_at"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"`
}

var registryMagic = []byte("govcol.registry.v1\x00")

// Payload is what the signature covers: "govcol.registry.v1\x00" then kind, chain_id, tenant_id, instance, seq
// (decimal), link, lost (Ranges.String), sealed_by, key_id and signed_at (canonical time), each as a 4-byte
// big-endian length and its bytes (under its own domain-separation prefix: no checkpoint or retention marker
// signature passes as a registry entry's).
func (e *RegistryEntry) Payload() []byte {
	fields := []string{e.Kind, e.ChainID, e.TenantID, e.Instance, strconv.FormatInt(e.Seq, 10), e.Link, e.Lost.String(),
		e.SealedBy, e.KeyID, audit.CanonicalTime(e.SignedAt)}
	return signedPayload(registryMagic, fields...)
}

// Sign sets KeyID and Signature (SignedAt truncated to the microsecond, as Postgres stores it).
func (e *RegistryEntry) Sign(key ed25519.PrivateKey, keyID string) {
	e.KeyID = keyID
	e.SignedAt = e.SignedAt.UTC().Truncate(time.Microsecond)
	e.Signature = sign(key, e.Payload())
}

// Verify checks the entry's form and signature against the key set.
func (e *RegistryEntry) Verify(keys license.KeySet) error {
	switch {
	case e.ChainID == "":
		return errors.New("registry entry without a chain id")
	case e.Kind == RegistryOpened && e.Seq != 0, e.Kind == RegistrySealed && e.Seq < 0,
		e.Kind != RegistryOpened && e.Kind != RegistrySealed:
		return fmt.Errorf("malformed registry entry (%s at %d)", e.Kind, e.Seq)
	}
	return verifySignature(keys, e.KeyID, e.Signature, e.Payload())
}
