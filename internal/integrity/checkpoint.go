// Package integrity is govcol's tamper evidence (docs/ARCHITECTURE.md §8): hash chains over the canonical audit
// records (Chainer, used by the governance processor), Ed25519-signed checkpoints of the chain heads, and the
// verification of a stored trail (Verify, used by `govctl verify`).
package integrity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/license"
)

// Checkpoint signs the head of a chain: every record up to LastSeq is covered by the signature through the hashes.
// Withdrawn lists the sequence numbers the pipeline refused after they were chained (the client was told the
// delivery failed, so the records were never stored; they come back, chained again, when the client retries).
type Checkpoint struct {
	ChainID   string    `json:"chain_id"`
	TenantID  string    `json:"tenant_id"`
	LastSeq   int64     `json:"last_seq"`
	LastHash  string    `json:"last_hash"`
	Withdrawn Ranges    `json:"withdrawn,omitempty"`
	KeyID     string    `json:"key_id"`
	SignedAt  time.Time `json:"signed_at"`
	Signature string    `json:"signature"` // base64 (standard, padded) Ed25519 signature of Payload
}

var (
	checkpointMagic   = []byte("govcol.checkpoint.v1\x00")
	checkpointMagicV2 = []byte("govcol.checkpoint.v2\x00")
)

// Payload is what the signature covers: "govcol.checkpoint.v1\x00" then chain_id, tenant_id, last_seq (decimal),
// last_hash, key_id and signed_at (canonical time), each as a 4-byte big-endian length and its bytes. A checkpoint
// that withdraws sequence numbers is "govcol.checkpoint.v2\x00", the same fields, then withdrawn (Ranges.String).
func (c *Checkpoint) Payload() []byte {
	fields := []string{c.ChainID, c.TenantID, strconv.FormatInt(c.LastSeq, 10), c.LastHash, c.KeyID, audit.CanonicalTime(c.SignedAt)}
	if len(c.Withdrawn) > 0 {
		return signedPayload(checkpointMagicV2, append(fields, c.Withdrawn.String())...)
	}
	return signedPayload(checkpointMagic, fields...)
}

// Sign sets KeyID and Signature.
func (c *Checkpoint) Sign(key ed25519.PrivateKey, keyID string) {
	c.KeyID = keyID
	c.SignedAt = c.SignedAt.UTC().Truncate(time.Microsecond)
	c.Signature = sign(key, c.Payload())
}

// VerifySignature checks the signature against the key set (key rotation: any known key id).
func (c *Checkpoint) VerifySignature(keys license.KeySet) error {
	return verifySignature(keys, c.KeyID, c.Signature, c.Payload())
}

// Attributes of a checkpoint log record. A checkpoint travels through the logs pipeline beside the records it
// covers, so every exporter stores it where it stores them.
const (
	AttrKind            = "audit.kind"
	KindCheckpoint      = "checkpoint"
	AttrCheckpointSeq   = "audit.checkpoint.last_seq"
	AttrCheckpointHash  = "audit.checkpoint.last_hash"
	AttrCheckpointKeyID = "audit.checkpoint.key_id"
	AttrCheckpointTime  = "audit.checkpoint.signed_at"
	AttrCheckpointSig   = "audit.checkpoint.signature"
	AttrCheckpointWdr   = "audit.checkpoint.withdrawn"
	checkpointBody      = "govcol.checkpoint"
)

// WriteLogRecord encodes c on lr.
func (c *Checkpoint) WriteLogRecord(lr plog.LogRecord) {
	lr.Body().SetStr(checkpointBody)
	lr.SetTimestamp(pcommonTime(c.SignedAt))
	a := lr.Attributes()
	a.PutStr(AttrKind, KindCheckpoint)
	a.PutStr(audit.AttrChainID, c.ChainID)
	a.PutStr(audit.AttrTenantID, c.TenantID)
	a.PutInt(AttrCheckpointSeq, c.LastSeq)
	a.PutStr(AttrCheckpointHash, c.LastHash)
	a.PutStr(AttrCheckpointKeyID, c.KeyID)
	a.PutStr(AttrCheckpointTime, audit.CanonicalTime(c.SignedAt))
	a.PutStr(AttrCheckpointSig, c.Signature)
	if len(c.Withdrawn) > 0 {
		a.PutStr(AttrCheckpointWdr, c.Withdrawn.String())
	}
}

// IsCheckpoint reports whether lr is a checkpoint record (not an audit record).
func IsCheckpoint(lr plog.LogRecord) bool {
	v, ok := lr.Attributes().Get(AttrKind)
	return ok && v.Str() == KindCheckpoint
}

// CheckpointFromLogRecord decodes a checkpoint record.
func CheckpointFromLogRecord(lr plog.LogRecord) (Checkpoint, error) {
	a := lr.Attributes()
	str := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	c := Checkpoint{ChainID: str(audit.AttrChainID), TenantID: str(audit.AttrTenantID), LastHash: str(AttrCheckpointHash),
		KeyID: str(AttrCheckpointKeyID), Signature: str(AttrCheckpointSig)}
	if v, ok := a.Get(AttrCheckpointSeq); ok {
		c.LastSeq = v.Int()
	}
	var err error
	if c.Withdrawn, err = ParseRanges(str(AttrCheckpointWdr)); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad %s: %w", AttrCheckpointWdr, err)
	}
	if c.SignedAt, err = time.Parse(time.RFC3339Nano, str(AttrCheckpointTime)); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad %s", AttrCheckpointTime)
	}
	if c.ChainID == "" || c.LastSeq < 1 || c.LastHash == "" || c.Signature == "" {
		return Checkpoint{}, errors.New("checkpoint: incomplete")
	}
	return c, nil
}
