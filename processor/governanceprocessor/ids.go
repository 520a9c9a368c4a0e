package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/google/uuid"
)

// deriveIDs derives a record's id and decision_id from the facts that identify the event (tenant, event time and the
// caller-chosen parts, e.g. session id, event sequence, trace and span id). Both are deterministic, so a client
// that retries a request produces the same ids and the exporters' idempotent writes (ON CONFLICT DO NOTHING, one S3
// object per decision) store it once.
//
// id is "aud_" + 32 hex digits of SHA-256. decision_id is a UUIDv7 (RFC 9562) whose 48-bit timestamp is the event
// time in milliseconds and whose 74 random bits come from the same digest, so it sorts by event time.
func deriveIDs(tenantID string, ts time.Time, parts ...string) (id, decisionID string) {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte(tenantID))
	binary.BigEndian.PutUint64(n[:], uint64(ts.UnixNano()))
	h.Write([]byte{0})
	h.Write(n[:])
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])

	var buf [36]byte
	copy(buf[:4], "aud_")
	hex.Encode(buf[4:], sum[:16])
	id = string(buf[:])

	var u uuid.UUID
	ms := uint64(max(ts.UnixMilli(), 0))
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	copy(u[6:], sum[16:26])
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 9562 variant
	return id, u.String()
}
