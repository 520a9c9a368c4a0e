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

// RetentionMarker records, signed, that retention removed records of one chain: every sequence number in
// [FromSeq, ToSeq] that is missing from the chain was deleted by the retention function of the Postgres exporter
// for Category (a request_type prefix of the retention policy) with records older than Cutoff, at DeletedAt. Count is
// how many distinct sequence numbers that deletion removed inside the range (the range may also hold records of
// other categories, which stay; successive batches may leave several markers with overlapping ranges for one chain). Markers are the only legitimate gaps in a stored chain besides the withdrawn sequence numbers of a
// checkpoint.
//
// In Postgres a marker is a row of <table>_retention_markers whose columns carry these names (plus id and
// stored_at). The row is written by the SECURITY DEFINER retention function in the same transaction as the
// deletion, unsigned; the collector that called the function signs it before that transaction commits (see
// exporter/postgresauditexporter/README.md, Retention). A marker with an empty or invalid signature is not a
// legitimate gap.
type RetentionMarker struct {
	TenantID  string    `json:"tenant_id"`
	ChainID   string    `json:"chain_id"`
	FromSeq   int64     `json:"from_seq"`
	ToSeq     int64     `json:"to_seq"`
	Count     int64     `json:"count"`
	Category  string    `json:"category"` // the retention policy's request_type prefix ("" = every request type)
	Reason    string    `json:"reason"`   // "retention"
	Cutoff    time.Time `json:"cutoff"`   // records older than this were eligible
	DeletedAt time.Time `json:"deleted_at"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"` // base64 (standard, padded) Ed25519 signature of Payload
}

// ReasonRetention is the reason of markers written by the retention policy.
const ReasonRetention = "retention"

var retentionMagic = []byte("govcol.retention.v1\x00")

// Payload is what the signature covers: "govcol.retention.v1\x00" then tenant_id, chain_id, from_seq, to_seq, count
// (decimal), category, reason, cutoff, deleted_at (canonical time) and key_id, each as a 4-byte big-endian length
// and its bytes (the encoding of Checkpoint.Payload, under its own domain-separation prefix, so a checkpoint
// signature can never pass as a marker's or the reverse).
func (m *RetentionMarker) Payload() []byte {
	fields := []string{m.TenantID, m.ChainID, strconv.FormatInt(m.FromSeq, 10), strconv.FormatInt(m.ToSeq, 10),
		strconv.FormatInt(m.Count, 10), m.Category, m.Reason, audit.CanonicalTime(m.Cutoff),
		audit.CanonicalTime(m.DeletedAt), m.KeyID}
	return signedPayload(retentionMagic, fields...)
}

// Sign sets KeyID and Signature (times are truncated to the microsecond, as Postgres stores them).
func (m *RetentionMarker) Sign(key ed25519.PrivateKey, keyID string) {
	m.KeyID = keyID
	m.Cutoff = m.Cutoff.UTC().Truncate(time.Microsecond)
	m.DeletedAt = m.DeletedAt.UTC().Truncate(time.Microsecond)
	m.Signature = sign(key, m.Payload())
}

// Verify checks the marker's signature against the key set (any known key id) and that its range is well formed.
func (m *RetentionMarker) Verify(keys license.KeySet) error {
	if m.ChainID == "" || m.FromSeq < 1 || m.ToSeq < m.FromSeq || m.Count < 0 || m.Count > m.ToSeq-m.FromSeq+1 {
		return fmt.Errorf("retention marker: malformed range %d-%d (count %d) of chain %q", m.FromSeq, m.ToSeq, m.Count, m.ChainID)
	}
	if m.Signature == "" {
		return errors.New("retention marker: unsigned")
	}
	if err := verifySignature(keys, m.KeyID, m.Signature, m.Payload()); err != nil {
		return fmt.Errorf("retention marker: %w", err)
	}
	return nil
}

// Covers reports whether seq of chainID lies in the marker's range.
func (m *RetentionMarker) Covers(chainID string, seq int64) bool {
	return m.ChainID == chainID && seq >= m.FromSeq && seq <= m.ToSeq
}
