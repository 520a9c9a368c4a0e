package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
	"unsafe"

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
	var out [idsLen]byte
	formatIDs(&out, tenantID, ts, parts...)
	both := string(out[:])
	return both[:36], both[36:]
}

// idsLen is the length of a record's two ids formatted back to back.
const idsLen = 36 + 36

// deriveIDsInto is deriveIDs formatting the ids into out, which the returned strings alias: the caller keeps out
// unchanged while they are used (the log path's ids live in the record scratch until the record is stamped).
func deriveIDsInto(out *[idsLen]byte, tenantID string, ts time.Time, parts ...string) (id, decisionID string) {
	formatIDs(out, tenantID, ts, parts...)
	both := unsafe.String(&out[0], idsLen)
	return both[:36], both[36:]
}

func formatIDs(out *[idsLen]byte, tenantID string, ts time.Time, parts ...string) {
	// The digest's input is written to a stack buffer and hashed in one call (a hash.Hash and its Write calls
	// allocate); both ids are formatted into one buffer.
	var in [256]byte
	b := append(in[:0], tenantID...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(ts.UnixNano()))
	for _, p := range parts {
		b = append(b, 0)
		b = append(b, p...)
	}
	sum := sha256.Sum256(b)

	var u uuid.UUID
	ms := uint64(max(ts.UnixMilli(), 0))
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	copy(u[6:], sum[16:26])
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 9562 variant

	copy(out[:4], "aud_")
	hex.Encode(out[4:36], sum[:16])
	d := out[36:]
	hex.Encode(d[0:8], u[0:4]) // the canonical 8-4-4-4-12 form, as uuid.UUID.String
	d[8] = '-'
	hex.Encode(d[9:13], u[4:6])
	d[13] = '-'
	hex.Encode(d[14:18], u[6:8])
	d[18] = '-'
	hex.Encode(d[19:23], u[8:10])
	d[23] = '-'
	hex.Encode(d[24:], u[10:])
}
