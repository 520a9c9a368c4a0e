package audit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// AttrPrefix marks every attribute govcol stamps; incoming attributes under it are removed before stamping.
const AttrPrefix = "audit."

// The audit.* attribute names of the record's fields (Field.Attr). The governance processor stamps the record as
// audit.record (AttrRecord) plus the named ones (Field.Named: audit.event, audit.tenant_id, audit.policy_decision,
// ...), which count connectors, OTTL conditions and policies read; FromLogRecord rebuilds the Record. An attribute
// of a field, when present, takes precedence over audit.record: a record stamped before audit.record existed
// carries every field so (scalars typed, lists as slices, the JSON columns as JSON strings).
const (
	AttrID              = "audit.id"
	AttrDecisionID      = "audit.decision_id"
	AttrTimestamp       = "audit.timestamp"
	AttrReceivedAt      = "audit.received_at"
	AttrRequestID       = "audit.request_id"
	AttrCorrelationID   = "audit.correlation_id"
	AttrRequestType     = "audit.request_type"
	AttrEvent           = "audit.event"
	AttrPlane           = "audit.plane"
	AttrOrigin          = "audit.origin"
	AttrOrgID           = "audit.org_id"
	AttrTenantID        = "audit.tenant_id"
	AttrClientID        = "audit.client_id"
	AttrLicenseID       = "audit.license_id"
	AttrTier            = "audit.tier"
	AttrUserEmail       = "audit.user_email"
	AttrAttemptedEmail  = "audit.attempted_user_email"
	AttrIdentitySource  = "audit.identity_source"
	AttrUserID          = "audit.user_id"
	AttrSessionID       = "audit.session_id"
	AttrPolicyDecision  = "audit.policy_decision"
	AttrPolicyDetails   = "audit.policy_details"
	AttrTopPolicy       = "audit.top_policy"
	AttrPolicyLabel     = "audit.policy_label"
	AttrObligations     = "audit.obligations"
	AttrPIITypes        = "audit.pii_types"
	AttrRedactedFields  = "audit.redacted_fields"
	AttrQuery           = "audit.query"
	AttrResponseSample  = "audit.response_sample"
	AttrQueryHash       = "audit.query_hash"
	AttrProvider        = "audit.provider"
	AttrModel           = "audit.model"
	AttrToolName        = "audit.tool_name"
	AttrResponseTimeMS  = "audit.response_time_ms"
	AttrInputTokens     = "audit.input_tokens"
	AttrOutputTokens    = "audit.output_tokens"
	AttrTokensUsed      = "audit.tokens_used"
	AttrCost            = "audit.cost"
	AttrComplianceFlags = "audit.compliance_flags"
	AttrSecurityMetrics = "audit.security_metrics"
	AttrChainID         = "audit.chain_id"
	AttrChainSeq        = "audit.chain_seq"
	AttrPrevHash        = "audit.prev_hash"
	AttrRecordHash      = "audit.record_hash"
)

// ErrBadTimestamp is wrapped by FromLogRecord when audit.timestamp does not parse; an exporter may still ship the
// record without a time (FromLogRecordAnyTime).
var ErrBadTimestamp = errors.New("bad " + AttrTimestamp)

// FromLogRecordAnyTime is FromLogRecord for a record whose audit.timestamp may not parse: the Record then has a zero
// Timestamp and the raw value is returned.
func FromLogRecordAnyTime(res pcommon.Resource, lr plog.LogRecord) (Record, string, error) {
	return fromLogRecordAnyTime(res, lr, metadataMap)
}

// FromLogRecordForDecision is FromLogRecordAnyTime for a reader that needs the record's fields and its event name
// but not its metadata (the S3 decision exporter): Metadata holds only the stamped extras (event_name, license_id,
// license_tier, attempted_user_email, when set), not the record's other attributes nor the resource.
func FromLogRecordForDecision(res pcommon.Resource, lr plog.LogRecord) (Record, string, error) {
	return fromLogRecordAnyTime(res, lr, metadataExtras)
}

func fromLogRecordAnyTime(res pcommon.Resource, lr plog.LogRecord, mode metadataMode) (Record, string, error) {
	r, err := decodeLogRecord(res, lr, mode)
	if err == nil || !errors.Is(err, ErrBadTimestamp) {
		return r, "", err
	}
	raw := ""
	if v, ok := lr.Attributes().Get(AttrTimestamp); ok {
		raw = v.AsString()
	}
	fixed := plog.NewLogRecord()
	lr.CopyTo(fixed)
	fixed.Attributes().PutStr(AttrTimestamp, placeholderTime)
	r, err = decodeLogRecord(res, fixed, mode)
	r.Timestamp = time.Time{}
	return r, raw, err
}

// placeholderTime stands in for an unparseable time while the rest of the record is read (Validate needs one).
const placeholderTime = "1970-01-01T00:00:00Z"

// Extra carries the stamped facts that are not columns of their own; FromLogRecord files them under metadata.
type Extra struct {
	Event              string
	LicenseID          string
	Tier               string
	AttemptedUserEmail string
	// PolicyLabel is the bounded metric label of the top policy: a system policy id, tenant_custom, or none.
	PolicyLabel string
}

// PolicyLabel is the bounded label of the top policy (Extra.PolicyLabel): system policy ids as they are, tenant
// policies collapsed to tenant_custom, none when nothing matched. The processor stamps it; the decision store's
// reconciler derives it again from a stored row, so both use this one rule.
func PolicyLabel(top string) string {
	switch {
	case top == "":
		return "none"
	case strings.HasPrefix(top, "sys_"):
		return top
	}
	return "tenant_custom"
}

// ContentKeys are the record attributes whose (masked) value is the query or response_sample column; they are not
// repeated in metadata.
var ContentKeys = map[string]bool{"prompt": true, "prompt_text": true, "response": true}

// MaxStampedAttributes is the most attributes WriteAttributes adds (audit.record and the named attributes), for
// callers that reserve capacity.
const MaxStampedAttributes = 11

// writeEachAttribute stamps r (and extra) in the form used before audit.record: every field as an audit.*
// attribute of its own, walking Fields (required text always, optional text and the extras when set, the JSON
// columns as JSON strings, lists as slices, measured numbers when measured, chain_seq when not 0). FromLogRecord
// still reads it (records stamped by an earlier version may wait in a queue or a fallback file); tests use it.
func (r *Record) writeEachAttribute(m pcommon.Map, extra Extra) {
	for i := range Fields {
		f := &Fields[i]
		if f.Attr == "" {
			continue
		}
		switch f.Kind {
		case KindText, KindUUID:
			if s := *f.Text(r); s != "" || !f.Optional {
				m.PutStr(f.Attr, s)
			}
		case KindExtra:
			if s := *f.Extra(&extra); s != "" {
				m.PutStr(f.Attr, s)
			}
		case KindTime:
			m.PutStr(f.Attr, f.Time(r).UTC().Format(time.RFC3339Nano))
		case KindJSON:
			m.PutStr(f.Attr, string(f.JSON.Encode(r)))
		case KindStringsJSON, KindList:
			putStrings(m, f.Attr, *f.List(r))
		case KindInt:
			putInt(m, f.Attr, *f.Int(r))
		case KindFloat:
			if p := *f.Float(r); p != nil {
				m.PutDouble(f.Attr, *p)
			}
		case KindSeq:
			if n := *f.Seq(r); n != 0 {
				m.PutInt(f.Attr, n)
			}
		}
	}
}

func putStrings(m pcommon.Map, k string, v []string) {
	s := m.PutEmptySlice(k)
	s.EnsureCapacity(len(v))
	for _, x := range v {
		s.AppendEmpty().SetStr(x)
	}
}

func putInt(m pcommon.Map, k string, v *int64) {
	if v != nil {
		m.PutInt(k, *v)
	}
}

// FromLogRecord rebuilds the canonical record from a log record the governance processor stamped: from audit.record,
// with any audit.* attribute of a field taking precedence (see AttrRecord), or, for a record stamped before
// audit.record existed, from those attributes alone. metadata is every other attribute of the record (except
// ContentKeys), the resource attributes under "resource", and the extra stamped facts. It fails when the record
// was not stamped or a stamped value is malformed; the caller reports and skips that record.
func FromLogRecord(res pcommon.Resource, lr plog.LogRecord) (Record, error) {
	return decodeLogRecord(res, lr, metadataMap)
}

// FromLogRecordForStore is FromLogRecord for a writer of the metadata column (the Postgres exporter): the metadata
// is encoded as JSON straight from the attributes, without the map (MetadataJSON returns that encoding, and a
// Record marshalled to JSON carries it as its metadata), and Metadata is nil. The JSON has the value
// json.Marshal(Metadata) would have had (members sorted by key, the later of a repeated key kept); a record whose
// metadata that encoder does not write (a bytes value, a key that is not valid UTF-8) gets the map, as with
// FromLogRecord.
func FromLogRecordForStore(res pcommon.Resource, lr plog.LogRecord) (Record, error) {
	return decodeLogRecord(res, lr, metadataJSON)
}

// metadataMode is how fromLogRecord builds the metadata.
type metadataMode uint8

const (
	metadataMap    metadataMode = iota // Record.Metadata, the map
	metadataJSON                       // the JSON encoding only (FromLogRecordForStore)
	metadataExtras                     // the stamped extras only (FromLogRecordForDecision)
)

func decodeLogRecord(res pcommon.Resource, lr plog.LogRecord, mode metadataMode) (Record, error) {
	v, ok := lr.Attributes().Get(AttrRecord)
	if !ok {
		return fromLogRecord(res, lr, nil, false, mode)
	}
	if v.Type() != pcommon.ValueTypeBytes {
		return Record{}, fmt.Errorf("%w: a %s value, not bytes", errStamped, v.Type())
	}
	return fromLogRecord(res, lr, v.Bytes().AsRaw(), true, mode)
}

// fromLogRecord is FromLogRecord with the compact encoding given (hasStamped), which then takes the place of
// audit.record, and the metadata built as mode says. The strings of the Record alias stamped.
func fromLogRecord(res pcommon.Resource, lr plog.LogRecord, stamped []byte, hasStamped bool, mode metadataMode) (Record, error) {
	attrs := lr.Attributes()
	var r Record
	var extra Extra
	sink := recordSink{r: &r, x: &extra}
	if hasStamped {
		if err := decodeStamped(stamped, &r, &sink); err != nil {
			return Record{}, err
		}
		// The attributes of fields take precedence (the first of a repeated key, as with Map.Get).
		var seen uint64
		for k, v := range attrs.All() {
			if len(k) <= len(AttrPrefix) || k[:len(AttrPrefix)] != AttrPrefix {
				continue
			}
			if i, known := attrLookup.lookup(k); known && seen&(1<<i) == 0 {
				seen |= 1 << i
				sink.set(int(i), v, true)
			}
		}
	} else {
		for i := range Fields {
			if f := &Fields[i]; f.Attr != "" {
				v, ok := attrs.Get(f.Attr)
				sink.set(i, v, ok)
			}
		}
	}
	if r.ID == "" {
		return Record{}, fmt.Errorf("log record has no %s: it did not pass through the governance processor", AttrID)
	}
	if sink.err != nil {
		return Record{}, fmt.Errorf("record %s: %w", r.ID, sink.err)
	}
	// trace_id and span_id are the log record's own ids.
	if tid := lr.TraceID(); !tid.IsEmpty() {
		r.TraceID = tid.String()
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		r.SpanID = sid.String()
	}

	switch mode {
	case metadataJSON:
		if b, ok := metadataJSONOf(res, attrs, &extra); ok {
			r.metadataJSON = b
			return r, r.Validate()
		}
	case metadataExtras:
		for i := range Fields {
			if f := &Fields[i]; f.Kind == KindExtra && f.MetadataKey != "" {
				if v := *f.Extra(&extra); v != "" {
					if r.Metadata == nil {
						r.Metadata = make(map[string]any, 1)
					}
					r.Metadata[f.MetadataKey] = v
				}
			}
		}
		return r, r.Validate()
	}
	md := make(map[string]any, max(attrs.Len()-MaxStampedAttributes, 0))
	for k, v := range attrs.All() {
		if strings.HasPrefix(k, AttrPrefix) || isContentKey(k) {
			continue
		}
		md[k] = jsonSafe(v.AsRaw())
	}
	for i := range Fields {
		if f := &Fields[i]; f.Kind == KindExtra && f.MetadataKey != "" {
			if v := *f.Extra(&extra); v != "" {
				md[f.MetadataKey] = v
			}
		}
	}
	if res.Attributes().Len() > 0 {
		md["resource"] = jsonSafe(res.Attributes().AsRaw())
	}
	r.Metadata = md
	return r, r.Validate()
}

// set sets entry i of the record from its attribute v (present: false when the record has no such attribute),
// as the attribute form stamps it: text as a string, times as RFC 3339, JSON columns as JSON, lists as slices,
// measured numbers as Int / Double attributes (another type is not measured), chain_seq as an Int.
func (s *recordSink) set(i int, v pcommon.Value, present bool) {
	f := &Fields[i]
	if f.StampOnly {
		return
	}
	str := func() string {
		if present {
			return v.AsString()
		}
		return ""
	}
	switch f.Kind {
	case KindText, KindUUID:
		*f.Text(s.r) = str()
	case KindExtra:
		*f.Extra(s.x) = str()
	case KindTime:
		t, err := time.Parse(time.RFC3339Nano, str())
		switch {
		case err != nil && i == fieldTimestamp:
			s.fail(i, fmt.Errorf("%w: %w", ErrBadTimestamp, err))
		case err != nil:
			s.fail(i, fmt.Errorf("bad %s: %w", f.Attr, err))
		default:
			*f.Time(s.r) = t
		}
	case KindJSON:
		s.json(i, str())
	case KindStringsJSON, KindList:
		*f.List(s.r) = getStrings(v, present)
	case KindInt:
		*f.Int(s.r) = nil
		if present && v.Type() == pcommon.ValueTypeInt {
			x := v.Int()
			*f.Int(s.r) = &x
		}
	case KindFloat:
		*f.Float(s.r) = nil
		if present && v.Type() == pcommon.ValueTypeDouble {
			c := v.Double()
			*f.Float(s.r) = &c
		}
	case KindSeq:
		*f.Seq(s.r) = 0
		if present {
			*f.Seq(s.r) = v.Int()
		}
	}
}

// jsonSafe replaces what JSON cannot hold (NaN and infinite doubles, which a payload may carry) with their names,
// so encoding metadata never fails.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e)
		}
	}
	return v
}

func getStrings(v pcommon.Value, present bool) []string {
	if !present || v.Type() != pcommon.ValueTypeSlice {
		return []string{}
	}
	sl := v.Slice()
	out := make([]string, sl.Len())
	for i := range sl.Len() {
		out[i] = sl.At(i).AsString()
	}
	return out
}

// mdWriters are the scratch of metadataJSONOf.
var mdWriters = sync.Pool{New: func() any { return &plainMetadata{w: mdWriter{plain: true}} }}

type plainMetadata struct {
	w   mdWriter
	buf []byte
}

// metadataJSONOf writes the metadata FromLogRecord builds as a map (the record's attributes but the audit.* ones and
// ContentKeys, then the stamped extras, then the resource under "resource", a later key replacing an earlier one)
// directly as JSON (mdWriter, plain); ok is false when it declines.
func metadataJSONOf(res pcommon.Resource, attrs pcommon.Map, extra *Extra) ([]byte, bool) {
	p := mdWriters.Get().(*plainMetadata)
	defer mdWriters.Put(p)
	w := &p.w
	w.ents, w.order = w.ents[:0], w.order[:0]
	for k, v := range attrs.All() {
		if !strings.HasPrefix(k, AttrPrefix) && !isContentKey(k) {
			w.ents = append(w.ents, mdEntry{key: k, val: v})
		}
	}
	for i := range Fields {
		if f := &Fields[i]; f.Kind == KindExtra && f.MetadataKey != "" {
			if v := *f.Extra(extra); v != "" {
				w.ents = append(w.ents, mdEntry{key: f.MetadataKey, str: v, kind: entString})
			}
		}
	}
	if ra := res.Attributes(); ra.Len() > 0 {
		w.ents = append(w.ents, mdEntry{key: "resource", res: ra, kind: entMap})
	}
	var ok bool
	p.buf, ok = w.appendObject(p.buf[:0], 0)
	// Drop the references to pdata the scratch holds, so the pool keeps no record alive.
	clear(w.ents[:cap(w.ents)])
	if !ok {
		return nil, false
	}
	return append(make([]byte, 0, len(p.buf)), p.buf...), true
}
