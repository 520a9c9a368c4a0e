package integrity

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/govcol/govcol/internal/audit"
)

// Column kinds of audit.Columns, in order, for the binary decoder.
const (
	colText = iota
	colUUID
	colTime
	colJSONB
	colTextArray
	colInt8
	colFloat8
)

var columnKinds = []int{
	colText, colUUID, colTime, colTime, // id, decision_id, timestamp, received_at
	colText, colText, colText, colText, // request_id, correlation_id, trace_id, span_id
	colText, colText, colText, // request_type, plane, origin
	colText, colText, colText, colText, colText, colText, colText, // org_id .. session_id
	colText, colJSONB, colJSONB, colTextArray, colTextArray, // policy_decision .. redacted_fields
	colText, colText, colText, // query, response_sample, query_hash
	colText, colText, colText, // provider, model, tool_name
	colInt8, colInt8, colInt8, colInt8, colFloat8, // response_time_ms .. cost
	colJSONB, colJSONB, colJSONB, // compliance_flags, security_metrics, metadata
	colText, colInt8, colText, colText, // chain_id, chain_seq, prev_hash, record_hash
}

var kindOIDs = map[int][]uint32{
	colText:      {pgtype.TextOID, pgtype.VarcharOID},
	colUUID:      {pgtype.UUIDOID},
	colTime:      {pgtype.TimestamptzOID},
	colJSONB:     {pgtype.JSONBOID},
	colTextArray: {pgtype.TextArrayOID, pgtype.VarcharArrayOID},
	colInt8:      {pgtype.Int8OID},
	colFloat8:    {pgtype.Float8OID},
}

// binaryColumns reports whether the result has audit.Columns' types, all in binary format: then decodeEntry reads
// the raw values directly (several times faster than Scan for 41 columns); otherwise scanEntry is used.
func binaryColumns(fds []pgconn.FieldDescription) bool {
	if len(fds) != len(columnKinds) || len(audit.Columns) != len(columnKinds) {
		return false
	}
	for i, fd := range fds {
		if fd.Format != pgx.BinaryFormatCode {
			return false
		}
		found := false
		for _, oid := range kindOIDs[columnKinds[i]] {
			found = found || fd.DataTypeOID == oid
		}
		if !found {
			return false
		}
	}
	return true
}

var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeEntry decodes one row of audit.Columns in binary format. The row's text and JSON values are copied into one
// allocation that the record's strings and JSON slices share (the decoder's cost is mostly allocation otherwise).
func decodeEntry(vals [][]byte, e *Entry) error {
	r := &e.Record
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	arena := make([]byte, 0, n)
	text := func(i int) string {
		v := vals[i]
		if len(v) == 0 {
			return ""
		}
		off := len(arena)
		arena = append(arena, v...)
		return unsafe.String(&arena[off], len(v))
	}
	tm := func(i int) (time.Time, error) {
		if len(vals[i]) != 8 {
			return time.Time{}, errNotBinary
		}
		us := int64(binary.BigEndian.Uint64(vals[i]))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return time.Time{}, fmt.Errorf("infinite timestamp")
		}
		return pgEpoch.Add(time.Duration(us/1e6) * time.Second).Add(time.Duration(us%1e6) * time.Microsecond), nil
	}
	jsonb := func(i int) ([]byte, error) {
		v := vals[i]
		if v == nil {
			return nil, nil
		}
		if len(v) < 1 || v[0] != 1 {
			return nil, errNotBinary
		}
		off := len(arena)
		arena = append(arena, v[1:]...)
		return arena[off:len(arena):len(arena)], nil
	}
	int8p := func(i int) (*int64, error) {
		if vals[i] == nil {
			return nil, nil
		}
		if len(vals[i]) != 8 {
			return nil, errNotBinary
		}
		n := int64(binary.BigEndian.Uint64(vals[i]))
		return &n, nil
	}
	var err error
	r.ID = text(0)
	if u := vals[1]; len(u) == 16 {
		var b [36]byte
		hex.Encode(b[0:8], u[0:4])
		b[8] = '-'
		hex.Encode(b[9:13], u[4:6])
		b[13] = '-'
		hex.Encode(b[14:18], u[6:8])
		b[18] = '-'
		hex.Encode(b[19:23], u[8:10])
		b[23] = '-'
		hex.Encode(b[24:], u[10:16])
		r.DecisionID = string(b[:])
	} else {
		return errNotBinary
	}
	if r.Timestamp, err = tm(2); err != nil {
		return err
	}
	if r.ReceivedAt, err = tm(3); err != nil {
		return err
	}
	r.RequestID, r.CorrelationID, r.TraceID, r.SpanID = text(4), text(5), text(6), text(7)
	r.RequestType, r.Plane, r.Origin = text(8), audit.Plane(text(9)), audit.Origin(text(10))
	r.OrgID, r.TenantID, r.ClientID, r.UserEmail, r.IdentitySource, r.UserID, r.SessionID =
		text(11), text(12), text(13), text(14), text(15), text(16), text(17)
	r.PolicyDecision = audit.Verdict(text(18))
	if e.JSON.PolicyDetails, err = jsonb(19); err != nil {
		return err
	}
	if e.JSON.Obligations, err = jsonb(20); err != nil {
		return err
	}
	if r.PIITypes, err = textArray(vals[21]); err != nil {
		return err
	}
	if r.RedactedFields, err = textArray(vals[22]); err != nil {
		return err
	}
	r.Query, r.ResponseSample, r.QueryHash = text(23), text(24), text(25)
	r.Provider, r.Model, r.ToolName = text(26), text(27), text(28)
	if r.ResponseTimeMS, err = int8p(29); err != nil {
		return err
	}
	if r.InputTokens, err = int8p(30); err != nil {
		return err
	}
	if r.OutputTokens, err = int8p(31); err != nil {
		return err
	}
	if r.TokensUsed, err = int8p(32); err != nil {
		return err
	}
	if v := vals[33]; v != nil {
		if len(v) != 8 {
			return errNotBinary
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(v))
		r.Cost = &f
	}
	if e.JSON.ComplianceFlags, err = jsonb(34); err != nil {
		return err
	}
	if e.JSON.SecurityMetrics, err = jsonb(35); err != nil {
		return err
	}
	if e.JSON.Metadata, err = jsonb(36); err != nil {
		return err
	}
	r.ChainID = text(37)
	seq, err := int8p(38)
	if err != nil {
		return err
	}
	if seq != nil {
		r.ChainSeq = *seq
	}
	r.PrevHash, r.RecordHash = text(39), text(40)
	return nil
}

// textArray decodes a one-dimensional text[] in binary format (NULL elements are refused: the columns hold none).
func textArray(v []byte) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	if len(v) < 12 {
		return nil, errNotBinary
	}
	ndim := binary.BigEndian.Uint32(v[0:4])
	if ndim == 0 {
		return []string{}, nil
	}
	if ndim != 1 || len(v) < 20 {
		return nil, errNotBinary
	}
	n := int(int32(binary.BigEndian.Uint32(v[12:16])))
	p := v[20:]
	out := make([]string, 0, n)
	for range n {
		if len(p) < 4 {
			return nil, errNotBinary
		}
		l := int32(binary.BigEndian.Uint32(p[0:4]))
		p = p[4:]
		if l < 0 || int(l) > len(p) {
			return nil, errNotBinary
		}
		out = append(out, string(p[:l]))
		p = p[l:]
	}
	return out, nil
}

// scanEntry reads a row with pgx's Scan (any column types Postgres can convert).
func scanEntry(rows pgx.Rows, e *Entry) error {
	r := &e.Record
	var (
		reqID, corr, trace, span, userID, session, query, resp, qhash, provider, model, tool *string
		chainID, prev, hash                                                                  *string
		seq                                                                                  *int64
		plane, origin, verdict                                                               string
	)
	dest := []any{&r.ID, &r.DecisionID, &r.Timestamp, &r.ReceivedAt, &reqID, &corr, &trace, &span,
		&r.RequestType, &plane, &origin, &r.OrgID, &r.TenantID, &r.ClientID, &r.UserEmail, &r.IdentitySource,
		&userID, &session, &verdict, &e.JSON.PolicyDetails, &e.JSON.Obligations, &r.PIITypes, &r.RedactedFields,
		&query, &resp, &qhash, &provider, &model, &tool,
		&r.ResponseTimeMS, &r.InputTokens, &r.OutputTokens, &r.TokensUsed, &r.Cost,
		&e.JSON.ComplianceFlags, &e.JSON.SecurityMetrics, &e.JSON.Metadata, &chainID, &seq, &prev, &hash}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	r.Plane, r.Origin, r.PolicyDecision = audit.Plane(plane), audit.Origin(origin), audit.Verdict(verdict)
	for _, p := range []struct {
		dst *string
		src *string
	}{{&r.RequestID, reqID}, {&r.CorrelationID, corr}, {&r.TraceID, trace}, {&r.SpanID, span}, {&r.UserID, userID},
		{&r.SessionID, session}, {&r.Query, query}, {&r.ResponseSample, resp}, {&r.QueryHash, qhash},
		{&r.Provider, provider}, {&r.Model, model}, {&r.ToolName, tool}, {&r.ChainID, chainID}, {&r.PrevHash, prev},
		{&r.RecordHash, hash}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	if seq != nil {
		r.ChainSeq = *seq
	}
	return nil
}
