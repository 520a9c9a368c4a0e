package audit

import (
	"encoding/json"
	"fmt"
	"time"
	"unsafe"
)

// The field table: the one list of the audit record's fields. Each entry says how a field is carried as an audit.*
// attribute, stored as an audit_logs column and hashed; WriteAttributes, FromLogRecord, LogHasher, the canonical
// encoding, Columns, ColumnCaps, CheckCaps and the Postgres exporter's COPY row all walk it. Adding a column is adding
// an entry here (and the Record field it points to, and the column to the schema); TestFieldTable checks every
// entry's offset against the Record field's type.

// FieldKind is how a field is typed in the Record, as an attribute, as a column and in the canonical encoding.
type FieldKind uint8

const (
	// KindText is a string: a Str attribute, a text column (NULL when empty if Optional), canonical text.
	KindText FieldKind = iota
	// KindUUID is decision_id: a string, a Str attribute, a uuid column, canonical lower-cased text.
	KindUUID
	// KindTime is a time.Time: an RFC 3339 Str attribute, a timestamptz column, canonical CanonicalTime.
	KindTime
	// KindJSON is a structured column (Field.JSON): a JSON Str attribute, a jsonb column, canonical JSON.
	KindJSON
	// KindStringsJSON is a []string kept as a jsonb list (obligations): a slice attribute, canonical JSON.
	KindStringsJSON
	// KindList is a []string: a slice attribute, a text[] column ({} when empty), a count then each element as text.
	KindList
	// KindInt is a *int64: an Int attribute when measured, a bigint column (NULL when nil), decimal or NULL.
	KindInt
	// KindFloat is a *float64: a Double attribute when measured, a double precision column, shortest 'g' or NULL.
	KindFloat
	// KindSeq is chain_seq, an int64: an Int attribute when not 0, a bigint column (NULL when not > 0), decimal.
	KindSeq
	// KindExtra is a string of Extra: an attribute only, filed under metadata as Field.MetadataKey.
	KindExtra
)

// Field is one entry of the field table.
type Field struct {
	// Column is the audit_logs column, "" for an attribute that is not a column of its own.
	Column string
	// Attr is the audit.* attribute, "" for a column not carried as one (trace_id and span_id are the log
	// record's ids; metadata is built from the other attributes).
	Attr string
	Kind FieldKind
	// Optional text is stamped only when set and stored as NULL when empty.
	Optional bool
	// StampOnly marks an attribute stamped from the record but not read back (it travels in a JSON column too).
	StampOnly bool
	// Named marks the fields stamped as an attribute of their own beside audit.record (AttrRecord), because
	// connectors, OTTL conditions or policies read them by name; audit.record holds them empty (see AttrRecord).
	Named bool
	// Unhashed marks the column the canonical encoding leaves out (record_hash).
	Unhashed bool
	// Cap is the most bytes of a text column, or of a JSON column as encoded (0: not capped); ElemCap that of one
	// element of a list.
	Cap, ElemCap int
	// MetadataKey is the metadata member FromLogRecord files a KindExtra under ("" when it is not read back).
	MetadataKey string
	// JSON encodes, decodes and canonicalizes a KindJSON or KindStringsJSON column.
	JSON *JSONColumn

	off uintptr // of the Record field (of the Extra field for KindExtra)
}

// JSONColumn is how a JSON column is built from the record and read back. Its functions are plain package functions
// (no captured state), so calling them allocates nothing beyond their result.
type JSONColumn struct {
	// Encode returns the column's JSON as the exporters store it (and as it is stamped).
	Encode func(r *Record) []byte
	// Compact appends the column's value in audit.record's compact form to dst; Expand sets the field from it
	// (starting from the zero value). Both nil for a column not in audit.record as such.
	Compact func(dst []byte, r *Record) []byte
	Expand  func(r *Record, compact string) error
	// Decode sets the record's field from the stamped JSON (nil: not stamped, or stamped as a list).
	Decode func(r *Record, stamped string) error
	// Canonical returns the canonical form of the stamped JSON as Decode then Encode then canonicalization would
	// (nil when the column is not stamped as JSON); ok is false when it does not decode.
	Canonical func(stamped string) ([]byte, bool)
	// Withhold replaces the field's value with a marker that names its size (WithholdOverCaps).
	Withhold func(r *Record, marker string)

	stored uintptr // of the StoredJSON member
}

// Text returns the string field f of r (KindText, KindUUID).
func (f *Field) Text(r *Record) *string { return (*string)(unsafe.Add(unsafe.Pointer(r), f.off)) }

// Time returns the time field f of r (KindTime).
func (f *Field) Time(r *Record) *time.Time { return (*time.Time)(unsafe.Add(unsafe.Pointer(r), f.off)) }

// List returns the list field f of r (KindList, KindStringsJSON).
func (f *Field) List(r *Record) *[]string { return (*[]string)(unsafe.Add(unsafe.Pointer(r), f.off)) }

// Int returns the measured-integer field f of r (KindInt).
func (f *Field) Int(r *Record) **int64 { return (**int64)(unsafe.Add(unsafe.Pointer(r), f.off)) }

// Float returns the measured-float field f of r (KindFloat).
func (f *Field) Float(r *Record) **float64 { return (**float64)(unsafe.Add(unsafe.Pointer(r), f.off)) }

// Seq returns the int64 field f of r (KindSeq).
func (f *Field) Seq(r *Record) *int64 { return (*int64)(unsafe.Add(unsafe.Pointer(r), f.off)) }

// Extra returns the string field f of x (KindExtra).
func (f *Field) Extra(x *Extra) *string { return (*string)(unsafe.Add(unsafe.Pointer(x), f.off)) }

// Stored returns the StoredJSON member of the JSON column f.
func (f *Field) Stored(js *StoredJSON) *[]byte {
	return (*[]byte)(unsafe.Add(unsafe.Pointer(js), f.JSON.stored))
}

var rec Record // for the offsets below

// Fields is the field table, in column order (the attribute-only entries where WriteAttributes stamps them). It is
// read-only.
var Fields = []Field{
	{Column: "id", Attr: AttrID, Cap: 128, off: unsafe.Offsetof(rec.ID)},
	{Column: "decision_id", Attr: AttrDecisionID, Kind: KindUUID, Cap: 36, off: unsafe.Offsetof(rec.DecisionID)},
	{Column: "timestamp", Attr: AttrTimestamp, Kind: KindTime, off: unsafe.Offsetof(rec.Timestamp)},
	{Column: "received_at", Attr: AttrReceivedAt, Kind: KindTime, off: unsafe.Offsetof(rec.ReceivedAt)},
	{Column: "request_id", Attr: AttrRequestID, Optional: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.RequestID)},
	{Column: "correlation_id", Attr: AttrCorrelationID, Optional: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.CorrelationID)},
	{Column: "trace_id", Optional: true, Cap: 32, off: unsafe.Offsetof(rec.TraceID)},
	{Column: "span_id", Optional: true, Cap: 16, off: unsafe.Offsetof(rec.SpanID)},
	{Column: "request_type", Attr: AttrRequestType, Named: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.RequestType)},
	{Attr: AttrEvent, Kind: KindExtra, Named: true, MetadataKey: "event_name", off: unsafe.Offsetof(Extra{}.Event)},
	{Column: "plane", Attr: AttrPlane, Named: true, Cap: 32, off: unsafe.Offsetof(rec.Plane)},
	{Column: "origin", Attr: AttrOrigin, Named: true, Cap: 32, off: unsafe.Offsetof(rec.Origin)},
	{Column: "org_id", Attr: AttrOrgID, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.OrgID)},
	{Column: "tenant_id", Attr: AttrTenantID, Named: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.TenantID)},
	{Column: "client_id", Attr: AttrClientID, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.ClientID)},
	{Attr: AttrLicenseID, Kind: KindExtra, MetadataKey: "license_id", off: unsafe.Offsetof(Extra{}.LicenseID)},
	{Attr: AttrTier, Kind: KindExtra, MetadataKey: "license_tier", off: unsafe.Offsetof(Extra{}.Tier)},
	{Column: "user_email", Attr: AttrUserEmail, Named: true, Cap: 320, off: unsafe.Offsetof(rec.UserEmail)}, // 254 (RFC 5321) or "client:" + a client id
	{Attr: AttrAttemptedEmail, Kind: KindExtra, MetadataKey: "attempted_user_email", off: unsafe.Offsetof(Extra{}.AttemptedUserEmail)},
	{Column: "identity_source", Attr: AttrIdentitySource, Cap: 16, off: unsafe.Offsetof(rec.IdentitySource)},
	{Column: "user_id", Attr: AttrUserID, Optional: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.UserID)},
	{Column: "session_id", Attr: AttrSessionID, Optional: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.SessionID)},
	{Column: "policy_decision", Attr: AttrPolicyDecision, Named: true, off: unsafe.Offsetof(rec.PolicyDecision)},
	{Column: "policy_details", Attr: AttrPolicyDetails, Kind: KindJSON, Cap: MaxJSONColumnBytes, off: unsafe.Offsetof(rec.PolicyDetails),
		JSON: &JSONColumn{Encode: (*Record).PolicyDetailsJSON, Compact: compactPolicyDetails, Expand: expandPolicyDetails, Decode: decodePolicyDetails, Canonical: policyDetailsCanonical,
			Withhold: withholdPolicyDetails, stored: unsafe.Offsetof(StoredJSON{}.PolicyDetails)}},
	{Attr: AttrTopPolicy, Optional: true, StampOnly: true, off: unsafe.Offsetof(rec.PolicyDetails) + unsafe.Offsetof(rec.PolicyDetails.TopPolicy)},
	{Attr: AttrPolicyLabel, Kind: KindExtra, Named: true, off: unsafe.Offsetof(Extra{}.PolicyLabel)},
	{Column: "obligations", Attr: AttrObligations, Kind: KindStringsJSON, off: unsafe.Offsetof(rec.Obligations),
		JSON: &JSONColumn{Encode: (*Record).ObligationsJSON, stored: unsafe.Offsetof(StoredJSON{}.Obligations)}},
	{Column: "pii_types", Attr: AttrPIITypes, Named: true, Kind: KindList, ElemCap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.PIITypes)},
	{Column: "redacted_fields", Attr: AttrRedactedFields, Kind: KindList, ElemCap: MaxFieldPathBytes, off: unsafe.Offsetof(rec.RedactedFields)},
	{Column: "query", Attr: AttrQuery, Optional: true, Cap: MaxContentColumnBytes, off: unsafe.Offsetof(rec.Query)},
	{Column: "response_sample", Attr: AttrResponseSample, Optional: true, Cap: MaxContentColumnBytes, off: unsafe.Offsetof(rec.ResponseSample)},
	{Column: "query_hash", Attr: AttrQueryHash, Optional: true, Cap: 128, off: unsafe.Offsetof(rec.QueryHash)},
	{Column: "provider", Attr: AttrProvider, Optional: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.Provider)},
	{Column: "model", Attr: AttrModel, Optional: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.Model)},
	{Column: "tool_name", Attr: AttrToolName, Named: true, Optional: true, Cap: MaxIdentifierBytes, off: unsafe.Offsetof(rec.ToolName)},
	{Column: "response_time_ms", Attr: AttrResponseTimeMS, Kind: KindInt, off: unsafe.Offsetof(rec.ResponseTimeMS)},
	{Column: "input_tokens", Attr: AttrInputTokens, Kind: KindInt, off: unsafe.Offsetof(rec.InputTokens)},
	{Column: "output_tokens", Attr: AttrOutputTokens, Kind: KindInt, off: unsafe.Offsetof(rec.OutputTokens)},
	{Column: "tokens_used", Attr: AttrTokensUsed, Kind: KindInt, off: unsafe.Offsetof(rec.TokensUsed)},
	{Column: "cost", Attr: AttrCost, Kind: KindFloat, off: unsafe.Offsetof(rec.Cost)},
	{Column: "compliance_flags", Attr: AttrComplianceFlags, Kind: KindJSON, off: unsafe.Offsetof(rec.ComplianceFlags),
		JSON: &JSONColumn{Encode: (*Record).ComplianceFlagsJSON, Compact: compactComplianceFlags, Expand: expandComplianceFlags, Decode: decodeComplianceFlags, Canonical: complianceFlagsCanonical,
			stored: unsafe.Offsetof(StoredJSON{}.ComplianceFlags)}},
	{Column: "security_metrics", Attr: AttrSecurityMetrics, Kind: KindJSON, off: unsafe.Offsetof(rec.SecurityMetrics),
		JSON: &JSONColumn{Encode: (*Record).SecurityMetricsJSON, Compact: compactSecurityMetrics, Expand: expandSecurityMetrics, Decode: decodeSecurityMetrics, Canonical: securityMetricsCanonical,
			stored: unsafe.Offsetof(StoredJSON{}.SecurityMetrics)}},
	{Column: "metadata", Kind: KindJSON, Cap: MaxJSONColumnBytes, off: unsafe.Offsetof(rec.Metadata),
		JSON: &JSONColumn{Encode: (*Record).MetadataJSON, Withhold: withholdMetadata, stored: unsafe.Offsetof(StoredJSON{}.Metadata)}},
	{Column: "chain_id", Attr: AttrChainID, Optional: true, Cap: 256, off: unsafe.Offsetof(rec.ChainID)},
	{Column: "chain_seq", Attr: AttrChainSeq, Kind: KindSeq, off: unsafe.Offsetof(rec.ChainSeq)},
	{Column: "prev_hash", Attr: AttrPrevHash, Optional: true, Cap: 128, off: unsafe.Offsetof(rec.PrevHash)},
	{Column: "record_hash", Attr: AttrRecordHash, Optional: true, Unhashed: true, Cap: 128, off: unsafe.Offsetof(rec.RecordHash)},
}

// maxFields bounds the table: LogHasher keeps a bit per entry in a uint64 and per-entry scratch in arrays.
const maxFields = 64

// Derived from Fields.
var (
	// Columns are the audit_logs columns, in the order the exporters write them and verifiers read them.
	Columns = columnsOf(Fields)
	// ColumnFields are the entries of Fields that are columns, in the order of Columns (what a COPY row writes and a
	// stored row is read by).
	ColumnFields = columnFieldsOf(Fields)
	// ColumnCaps is the most bytes each capped column of audit_logs may hold (see Field.Cap). The governance
	// processor builds records within these caps (identifiers that do not fit their shape are withheld, content is
	// cut); exporters check them before anything reaches Postgres, so an oversize value is a dead letter of its own
	// and never a failed batch (Postgres refuses index entries above about 2.7 kB with SQLSTATE 54000). The JSON
	// columns are capped as encoded.
	ColumnCaps = capsOf(Fields)
	// attrIndex maps each audit.* attribute to its entry.
	attrIndex = attrIndexOf(Fields)
	// The entries LogHasher and FromLogRecord treat apart.
	fieldID, fieldTimestamp, fieldReceivedAt = FieldIndex("id"), FieldIndex("timestamp"), FieldIndex("received_at")
)

// FieldIndex returns the index in Fields of column col, or -1.
func FieldIndex(col string) int {
	for i := range Fields {
		if Fields[i].Column == col && col != "" {
			return i
		}
	}
	return -1
}

func columnsOf(fs []Field) []string {
	var out []string
	for _, f := range fs {
		if f.Column != "" {
			out = append(out, f.Column)
		}
	}
	return out
}

func columnFieldsOf(fs []Field) []*Field {
	var out []*Field
	for i := range fs {
		if fs[i].Column != "" {
			out = append(out, &fs[i])
		}
	}
	return out
}

func capsOf(fs []Field) map[string]int {
	out := map[string]int{}
	for _, f := range fs {
		if f.Column != "" && f.Cap > 0 {
			out[f.Column] = f.Cap
		}
	}
	return out
}

func attrIndexOf(fs []Field) map[string]uint8 {
	if len(fs) > maxFields {
		panic("audit: more than 64 entries in the field table")
	}
	out := make(map[string]uint8, len(fs))
	for i, f := range fs {
		if f.Attr != "" {
			if _, dup := out[f.Attr]; dup {
				panic("audit: attribute " + f.Attr + " twice in the field table")
			}
			out[f.Attr] = uint8(i)
		}
	}
	return out
}

// The JSON columns' decoders and withholders, referenced by the table.

// Each decoder starts from the zero value (json.Unmarshal merges into what a field holds), and "" is that value.

func decodePolicyDetails(r *Record, s string) error {
	r.PolicyDetails = PolicyDetails{}
	return unmarshalStamped(s, &r.PolicyDetails)
}
func decodeComplianceFlags(r *Record, s string) error {
	r.ComplianceFlags = ComplianceFlags{}
	return unmarshalStamped(s, &r.ComplianceFlags)
}
func decodeSecurityMetrics(r *Record, s string) error {
	r.SecurityMetrics = SecurityMetrics{}
	return unmarshalStamped(s, &r.SecurityMetrics)
}

func unmarshalStamped(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

func withholdPolicyDetails(r *Record, v string) {
	r.PolicyDetails = PolicyDetails{Reasons: []string{"policy_details " + v}}
}

func withholdMetadata(r *Record, v string) { r.Metadata = map[string]any{"withheld": "metadata " + v} }

// ColumnValue is what the Postgres exporter sends for column i of Columns: the value COPY writes. decisionID is the
// parsed decision_id (a uuid column), passed as the caller parsed it.
func (f *Field) ColumnValue(r *Record, decisionID any) any {
	switch f.Kind {
	case KindText:
		s := *f.Text(r)
		if f.Optional && s == "" {
			return nil
		}
		return s
	case KindUUID:
		return decisionID
	case KindTime:
		return *f.Time(r)
	case KindJSON, KindStringsJSON:
		return f.JSON.Encode(r)
	case KindList:
		if l := *f.List(r); l != nil {
			return l
		}
		return []string{}
	case KindInt:
		return *f.Int(r)
	case KindFloat:
		return *f.Float(r)
	case KindSeq:
		if n := *f.Seq(r); n > 0 {
			return n
		}
		return nil
	}
	panic(fmt.Sprintf("audit: column %s has no value of kind %d", f.Column, f.Kind))
}

// AppendColumnValues appends the COPY values of r, in the order of Columns, to dst.
func (r *Record) AppendColumnValues(dst []any, decisionID any) []any {
	for i := range Fields {
		if f := &Fields[i]; f.Column != "" {
			dst = append(dst, f.ColumnValue(r, decisionID))
		}
	}
	return dst
}
