package audit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// kindTypes are the Go types a field of each kind has.
var kindTypes = map[FieldKind][]reflect.Type{
	KindText:        {reflect.TypeFor[string](), reflect.TypeFor[Plane](), reflect.TypeFor[Origin](), reflect.TypeFor[Verdict]()},
	KindUUID:        {reflect.TypeFor[string]()},
	KindTime:        {reflect.TypeFor[time.Time]()},
	KindJSON:        {reflect.TypeFor[PolicyDetails](), reflect.TypeFor[ComplianceFlags](), reflect.TypeFor[SecurityMetrics](), reflect.TypeFor[map[string]any]()},
	KindStringsJSON: {reflect.TypeFor[[]string]()},
	KindList:        {reflect.TypeFor[[]string]()},
	KindInt:         {reflect.TypeFor[*int64]()},
	KindFloat:       {reflect.TypeFor[*float64]()},
	KindSeq:         {reflect.TypeFor[int64]()},
	KindExtra:       {reflect.TypeFor[string]()},
}

// fieldAt returns the (possibly nested) struct field of t at offset off whose type is one of want.
func fieldAt(t reflect.Type, off uintptr, want []reflect.Type) (string, bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Offset == off && (len(want) == 0 || slicesContains(want, sf.Type)) {
			return sf.Name, true
		}
		if sf.Type.Kind() == reflect.Struct && off >= sf.Offset && off < sf.Offset+sf.Type.Size() {
			if name, ok := fieldAt(sf.Type, off-sf.Offset, want); ok {
				return sf.Name + "." + name, true
			}
		}
	}
	return "", false
}

func slicesContains(ts []reflect.Type, t reflect.Type) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// Every entry points at a field of the type its kind says (the accessors are unchecked pointer arithmetic), every
// field of Record and Extra has an entry, and each JSON column has its codec.
func TestFieldTable(t *testing.T) {
	covered := map[string]bool{}
	for _, f := range Fields {
		name := f.Column + f.Attr
		typ := reflect.TypeFor[Record]()
		if f.Kind == KindExtra {
			typ = reflect.TypeFor[Extra]()
		}
		field, ok := fieldAt(typ, f.off, kindTypes[f.Kind])
		require.True(t, ok, "%s: no %s field of a kind-%d type at offset %d", name, typ, f.Kind, f.off)
		covered[typ.Name()+"."+strings.SplitN(field, ".", 2)[0]] = true
		if f.Kind == KindJSON || f.Kind == KindStringsJSON {
			require.NotNil(t, f.JSON, name)
			require.NotNil(t, f.JSON.Encode, name)
			if f.Kind == KindJSON && f.Attr != "" {
				assert.NotNil(t, f.JSON.Decode, name)
				assert.NotNil(t, f.JSON.Canonical, name)
			}
			if f.Cap > 0 {
				assert.NotNil(t, f.JSON.Withhold, name)
			}
		}
		assert.True(t, f.Column != "" || f.Attr != "", "an entry with neither column nor attribute")
		assert.True(t, f.Attr == "" || strings.HasPrefix(f.Attr, AttrPrefix), name)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Record](), reflect.TypeFor[Extra]()} {
		for i := range typ.NumField() {
			if typ.Field(i).Name == "metadataJSON" { // the metadata column's encoding, when FromLogRecordForStore made it
				continue
			}
			assert.True(t, covered[typ.Name()+"."+typ.Field(i).Name], "%s.%s has no entry in Fields", typ.Name(), typ.Field(i).Name)
		}
	}
}

// The columns of encoding v1 and their caps are those of the released schema (frozen here as written before they
// were derived from the table): the hashed columns exactly, in order; every column of v1 and its cap still there. A
// column added later is an entry marked Unhashed (or a new hash version).
func TestFieldTableColumnsFrozen(t *testing.T) {
	v1 := []string{
		"id", "decision_id", "timestamp", "received_at",
		"request_id", "correlation_id", "trace_id", "span_id",
		"request_type", "plane", "origin",
		"org_id", "tenant_id", "client_id", "user_email", "identity_source", "user_id", "session_id",
		"policy_decision", "policy_details", "obligations", "pii_types", "redacted_fields",
		"query", "response_sample", "query_hash",
		"provider", "model", "tool_name",
		"response_time_ms", "input_tokens", "output_tokens", "tokens_used", "cost",
		"compliance_flags", "security_metrics", "metadata",
		"chain_id", "chain_seq", "prev_hash",
	}
	var hashed []string
	for _, f := range Fields {
		if f.Column != "" && !f.Unhashed {
			hashed = append(hashed, f.Column)
		}
	}
	assert.Equal(t, v1, hashed, "the columns of canonical encoding v1")
	for _, c := range append(v1, "record_hash") {
		assert.Contains(t, Columns, c)
	}
	caps := map[string]int{
		"id": 128, "decision_id": 36, "request_id": MaxIdentifierBytes, "correlation_id": MaxIdentifierBytes,
		"trace_id": 32, "span_id": 16, "request_type": MaxIdentifierBytes, "plane": 32, "origin": 32,
		"org_id": MaxIdentifierBytes, "tenant_id": MaxIdentifierBytes, "client_id": MaxIdentifierBytes,
		"user_email": 320, "identity_source": 16, "user_id": MaxIdentifierBytes, "session_id": MaxIdentifierBytes,
		"query": MaxContentColumnBytes, "response_sample": MaxContentColumnBytes, "query_hash": 128,
		"provider": MaxIdentifierBytes, "model": MaxIdentifierBytes, "tool_name": MaxIdentifierBytes,
		"policy_details": MaxJSONColumnBytes, "metadata": MaxJSONColumnBytes,
		"chain_id": 256, "prev_hash": 128, "record_hash": 128,
	}
	for c, limit := range caps {
		assert.Equal(t, limit, ColumnCaps[c], c)
	}
	for _, c := range v1 {
		if _, capped := caps[c]; !capped {
			assert.NotContains(t, ColumnCaps, c, "a column of v1 without a cap")
		}
	}
	assert.Equal(t, 41, len(Columns)-countAdded(), "the v1 columns and record_hash")
}

// countAdded counts the columns added after encoding v1 (marked Unhashed, other than record_hash).
func countAdded() int {
	n := 0
	for _, f := range Fields {
		if f.Column != "" && f.Unhashed && f.Column != "record_hash" {
			n++
		}
	}
	return n
}

// The attribute form (every field an attribute, as stamped before audit.record) keeps its order (table order),
// extras included.
func TestWriteEachAttributeOrder(t *testing.T) {
	r := Record{ID: "a", DecisionID: "d", RequestID: "q", CorrelationID: "c", UserID: "u", SessionID: "s",
		PolicyDetails: PolicyDetails{TopPolicy: "p"}, Query: "x", ResponseSample: "y", QueryHash: "h", Provider: "pr",
		Model: "m", ToolName: "t", ResponseTimeMS: ptr(int64(1)), InputTokens: ptr(int64(2)), OutputTokens: ptr(int64(3)),
		TokensUsed: ptr(int64(4)), Cost: ptr(0.5), ChainID: "ch", ChainSeq: 1, PrevHash: "ph", RecordHash: "rh"}
	m := pcommonNewMap()
	r.writeEachAttribute(m, Extra{Event: "e", LicenseID: "l", Tier: "t", AttemptedUserEmail: "a", PolicyLabel: "pl"})
	v1 := map[string]bool{}
	want := []string{AttrID, AttrDecisionID, AttrTimestamp, AttrReceivedAt, AttrRequestID, AttrCorrelationID,
		AttrRequestType, AttrEvent, AttrPlane, AttrOrigin, AttrOrgID, AttrTenantID, AttrClientID, AttrLicenseID, AttrTier,
		AttrUserEmail, AttrAttemptedEmail, AttrIdentitySource, AttrUserID, AttrSessionID, AttrPolicyDecision,
		AttrPolicyDetails, AttrTopPolicy, AttrPolicyLabel, AttrObligations, AttrPIITypes, AttrRedactedFields, AttrQuery,
		AttrResponseSample, AttrQueryHash, AttrProvider, AttrModel, AttrToolName, AttrResponseTimeMS, AttrInputTokens,
		AttrOutputTokens, AttrTokensUsed, AttrCost, AttrComplianceFlags, AttrSecurityMetrics, AttrChainID, AttrChainSeq,
		AttrPrevHash, AttrRecordHash}
	for _, k := range want {
		v1[k] = true
	}
	var keys []string // the attributes of v1, in the order stamped (a later attribute may be stamped among them)
	for k := range m.All() {
		if v1[k] {
			keys = append(keys, k)
		}
	}
	assert.Equal(t, want, keys)

	// WriteAttributes: audit.record, then the named attributes in table order (optional text when set, lists when
	// not empty).
	m = pcommonNewMap()
	r.PIITypes = []string{"ssn"}
	r.WriteAttributes(m, Extra{Event: "e", LicenseID: "l", Tier: "t", AttemptedUserEmail: "a", PolicyLabel: "pl"})
	keys = keys[:0]
	for k := range m.All() {
		keys = append(keys, k)
	}
	assert.Equal(t, []string{AttrRecord, AttrRequestType, AttrEvent, AttrPlane, AttrOrigin, AttrTenantID, AttrUserEmail,
		AttrPolicyDecision, AttrPolicyLabel, AttrPIITypes, AttrToolName}, keys)
	assert.Equal(t, keys[1:], NamedAttributes())
	assert.LessOrEqual(t, m.Len(), MaxStampedAttributes)
	r.PIITypes, r.ToolName = nil, ""
	m = pcommonNewMap()
	r.WriteAttributes(m, Extra{})
	_, hasPII := m.Get(AttrPIITypes)
	_, hasTool := m.Get(AttrToolName)
	_, hasEvent := m.Get(AttrEvent)
	assert.False(t, hasPII || hasTool || hasEvent, "empty lists, optional text and extras are not stamped")
	_, hasTenant := m.Get(AttrTenantID)
	assert.True(t, hasTenant, "required text is stamped even when empty")
}

func pcommonNewMap() pcommon.Map { return pcommon.NewMap() }

// frozenColumns are the columns of the COPY row before the table, in order.
var frozenColumns = []string{
	"id", "decision_id", "timestamp", "received_at",
	"request_id", "correlation_id", "trace_id", "span_id",
	"request_type", "plane", "origin",
	"org_id", "tenant_id", "client_id", "user_email", "identity_source", "user_id", "session_id",
	"policy_decision", "policy_details", "obligations", "pii_types", "redacted_fields",
	"query", "response_sample", "query_hash",
	"provider", "model", "tool_name",
	"response_time_ms", "input_tokens", "output_tokens", "tokens_used", "cost",
	"compliance_flags", "security_metrics", "metadata",
	"chain_id", "chain_seq", "prev_hash", "record_hash",
}

// AppendColumnValues gives what the Postgres exporter's COPY row was written out as before the table (frozen here):
// optional text NULL when empty, lists never NULL, chain_seq NULL unless positive, measured numbers as pointers.
func TestAppendColumnValuesFrozen(t *testing.T) {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	orEmpty := func(ss []string) []string {
		if ss == nil {
			return []string{}
		}
		return ss
	}
	frozen := func(x *Record, decisionID any) []any {
		var chainSeq any
		if x.ChainSeq > 0 {
			chainSeq = x.ChainSeq
		}
		return []any{
			x.ID, decisionID, x.Timestamp, x.ReceivedAt,
			nullable(x.RequestID), nullable(x.CorrelationID), nullable(x.TraceID), nullable(x.SpanID),
			x.RequestType, string(x.Plane), string(x.Origin),
			x.OrgID, x.TenantID, x.ClientID, x.UserEmail, x.IdentitySource, nullable(x.UserID), nullable(x.SessionID),
			string(x.PolicyDecision), x.PolicyDetailsJSON(), x.ObligationsJSON(),
			orEmpty(x.PIITypes), orEmpty(x.RedactedFields),
			nullable(x.Query), nullable(x.ResponseSample), nullable(x.QueryHash),
			nullable(x.Provider), nullable(x.Model), nullable(x.ToolName),
			x.ResponseTimeMS, x.InputTokens, x.OutputTokens, x.TokensUsed, x.Cost,
			x.ComplianceFlagsJSON(), x.SecurityMetricsJSON(), x.MetadataJSON(),
			nullable(x.ChainID), chainSeq, nullable(x.PrevHash), nullable(x.RecordHash),
		}
	}
	ts := time.Date(2026, 11, 22, 8, 46, 14, 504123999, time.UTC)
	full := Record{ID: "a", DecisionID: "d", Timestamp: ts, ReceivedAt: ts, RequestID: "q", CorrelationID: "c",
		TraceID: "01", SpanID: "02", RequestType: "rt", Plane: "p", Origin: "o", OrgID: "org", TenantID: "t",
		ClientID: "cl", UserEmail: "e", IdentitySource: "header", UserID: "u", SessionID: "s", PolicyDecision: VerdictRedacted,
		PolicyDetails: PolicyDetails{Matched: []string{"p1"}, TopPolicy: "p1"}, Obligations: []string{ObligationRedactPII},
		PIITypes: []string{"email"}, RedactedFields: []string{"prompt"}, Query: "x", ResponseSample: "y", QueryHash: "h",
		Provider: "pr", Model: "m", ToolName: "tn", ResponseTimeMS: ptr(int64(1)), InputTokens: ptr(int64(2)),
		OutputTokens: ptr(int64(3)), TokensUsed: ptr(int64(4)), Cost: ptr(0.5), Metadata: map[string]any{"k": "v"},
		ChainID: "ch", ChainSeq: 7, PrevHash: "ph", RecordHash: "rh"}
	for _, r := range []Record{full, {ID: "a", DecisionID: "d", Timestamp: ts}, {ChainSeq: -1}} {
		got := r.AppendColumnValues(nil, "uuid")
		require.Len(t, got, len(Columns))
		byColumn := map[string]any{}
		for i, c := range Columns {
			byColumn[c] = got[i]
		}
		for i, v := range frozen(&r, "uuid") {
			assert.Equal(t, v, byColumn[frozenColumns[i]], frozenColumns[i])
		}
	}
}
