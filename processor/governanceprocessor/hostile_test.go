package governanceprocessor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/pii"
	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadatatest"
)

// Raw values a hostile client sends; none may leave the processor.
const (
	rawEmail = "alice.secret@example.com"
	rawSSN   = "123-45-6789"
)

// requireNoRaw fails when any raw value (or the base64 of it, as bytes would be encoded) appears in what the
// processor emits: the whole governed batch and every canonical record read back from it.
func requireNoRaw(t *testing.T, out plog.Logs, recs []audit.Record, raws ...string) {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(out)
	require.NoError(t, err)
	rb, err := json.Marshal(recs)
	require.NoError(t, err)
	for _, where := range []struct {
		name string
		text string
	}{{"governed batch", string(b)}, {"canonical records", string(rb)}} {
		low := strings.ToLower(where.text)
		for _, raw := range raws {
			assert.False(t, strings.Contains(low, strings.ToLower(raw)), "raw value %.40q in the %s", raw, where.name)
			assert.False(t, strings.Contains(where.text, base64.StdEncoding.EncodeToString([]byte(raw))), "base64 of raw value %.40q in the %s", raw, where.name)
		}
	}
}

// governed runs one batch through a logs processor with own telemetry and returns the batch and its records.
func governed(t *testing.T, tt *componenttest.Telemetry, ctx context.Context, ld plog.Logs) (plog.Logs, []audit.Record) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.QueryHashKey = "0123456789abcdef0123456789abcdef"
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeLogs(ctx, ld))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllLogs(), 1)
	out := sink.AllLogs()[0]
	var recs []audit.Record
	for _, rl := range out.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r, err := audit.FromLogRecord(rl.Resource(), lr)
				require.NoError(t, err)
				recs = append(recs, r)
			}
		}
	}
	return out, recs
}

func withheldPoints(signal string, byField map[string]int64) []metricdata.DataPoint[int64] {
	var dps []metricdata.DataPoint[int64]
	for f, n := range byField {
		dps = append(dps, metricdata.DataPoint[int64]{Value: n, Attributes: attribute.NewSet(attribute.String("signal", signal), attribute.String("field", f))})
	}
	return dps
}

// A record without event.name takes its event from the body only when the body names a known event; any other
// body is content: masked in metadata, never the event name, request_type or audit.event.
func TestEventNameIsAClosedSet(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "my-sdk")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, body := range []string{
		"sdk_contact " + rawEmail + " " + rawSSN, // finding 1
		strings.Repeat("x", 20_000),              // an uncapped event name
		"claude_code.user_prompt",                // a known event in the body
	} {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(body)
		lr.SetTimestamp(1795337174732000000)
	}
	lr := lrs.AppendEmpty() // a hostile event.name attribute
	lr.Attributes().PutStr("event.name", "exfil "+rawEmail)
	lr.SetTimestamp(1795337174732000000)

	out, recs := governed(t, tt, authCtx(license(), nil), ld)
	require.Len(t, recs, 4)
	for i, want := range []string{"unknown", "unknown", "user_prompt", "unknown"} {
		assert.Equal(t, want, recs[i].Metadata["event_name"], "record %d", i)
		assert.Equal(t, "sdk_"+want, recs[i].RequestType, "record %d", i)
		v, _ := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i).Attributes().Get(audit.AttrEvent)
		assert.Equal(t, want, v.Str())
	}
	assert.Equal(t, []string{"email", "ssn"}, recs[0].PIITypes, "the body is still scanned and masked")
	assert.Equal(t, audit.VerdictRedacted, recs[0].PolicyDecision)
	requireNoRaw(t, out, recs, rawEmail, rawSSN)
	metadatatest.AssertEqualGovernanceIdentifiersWithheld(t, tt, withheldPoints("logs", map[string]int64{"event_name": 3}),
		metricdatatest.IgnoreTimestamp())
}

// An allow-listed key passes unscanned only when it holds an identifier; maps, lists, bytes, free text and PII
// under it are masked, identifier columns take only identifiers, attribute keys are masked, bytes never pass raw,
// and the payload's claimed email is kept only when it is a valid address.
func TestAllowListedKeysPassOnlyIdentifiers(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	secretBytes := []byte("contact " + rawEmail + " ssn " + rawSSN)
	ld := logOf("claude-code", "claude_code.tool_result", map[string]any{
		"tool_name":                     map[string]any{"x": rawEmail},
		"decision":                      map[string]any{"x": rawEmail},
		"model":                         []any{rawEmail, rawSSN},
		"request_id":                    rawEmail,
		"prompt.id":                     rawSSN,
		"session.id":                    rawEmail,
		"event.sequence":                rawEmail,
		"user.account_uuid":             rawEmail,
		"user.email":                    rawEmail + " " + rawSSN,
		"contact " + rawEmail:           "a key holding an email",
		"nested":                        map[string]any{rawSSN: "a nested key holding an ssn"},
		"terminal.type":                 strings.Repeat("A", 300),
		"tool_input":                    `{"command":"ls"}`,
		"gen_ai.provider.name":          "4111 1111 1111 1111",
		"anthropic.provider":            "firstParty",
		"tool_use_id":                   "toolu_01",
		"managed_settings.trigger":      "startup",
		"managed_settings.sources":      []any{},
		"safe_mode":                     true,
		"interaction.sequence":          int64(3),
		"marketplace.name":              "builtin",
		"plugin.name":                   "cc-plugin-telemetry",
		"status_code":                   "200",
		"success":                       "true",
		"duration_ms":                   "103",
		"tool_result_size_bytes":        int64(12),
		"tool_input_size_bytes":         "12",
		"bash_command_class":            "read",
		"query_source":                  "repl_main_thread",
		"permission_mode":               "default",
		"source":                        "config",
		"stop_reason":                   "end_turn",
		"event.timestamp":               "2026-11-22T08:46:14.896Z",
		"plugin_id_hash":                "5d0ce5ab0cc32144",
		"gen_ai.response.id":            "msg_01",
		"gen_ai.tool.call.id":           "toolu_01",
		"gen_ai.conversation.id":        "b202ba49-6acd-41fe-8ea9-ba982ec1a75d",
		"managed_settings.helper.state": "none",
	})
	attrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	attrs.PutEmptyBytes("note").FromRaw(secretBytes)
	attrs.PutEmptyBytes("tool_name_safe").FromRaw(secretBytes)
	attrs.PutEmptyBytes("blob").FromRaw([]byte{0xff, 0xfe, 0x00, 0x41})

	out, recs := governed(t, tt, authCtx(license(), map[string][]string{"X-User-Email": {"dev@example.com"}}), ld)
	require.Len(t, recs, 1)
	r := recs[0]
	requireNoRaw(t, out, recs, rawEmail, rawSSN, "4111 1111 1111 1111", string(secretBytes))

	assert.Empty(t, r.ToolName, "a map under tool_name is not a tool name")
	assert.Empty(t, r.Model)
	assert.Empty(t, r.RequestID)
	assert.Empty(t, r.CorrelationID)
	assert.Empty(t, r.UserID, "user.account_uuid holding an email is not a user id")
	assert.Empty(t, r.SessionID)
	assert.Empty(t, r.Provider)
	assert.Equal(t, "claude_code_tool_result", r.RequestType)
	assert.Equal(t, "dev@example.com", r.UserEmail)
	assert.Equal(t, "[REDACTED:email] [REDACTED:ssn]", r.Metadata["claimed_user_email"], "an invalid claim is masked content")
	assert.Equal(t, strings.Repeat("A", 300), r.Metadata["terminal.type"], "free text without PII under an allow-listed key is kept, scanned")
	assert.Subset(t, r.PIITypes, []string{"email", "ssn", "credit_card"})
	assert.Equal(t, audit.VerdictRedacted, r.PolicyDecision)
	assert.Equal(t, "[binary withheld: 4 bytes]", r.Metadata["blob"])
	assert.Equal(t, "contact [REDACTED:email] ssn [REDACTED:ssn]", r.Metadata["note"], "UTF-8 bytes are masked text")
	for _, k := range []string{"contact [REDACTED:email]", "nested"} {
		assert.Contains(t, r.Metadata, k)
	}
	assert.Contains(t, r.RedactedFields, "contact [REDACTED:email]")
	assert.Contains(t, r.RedactedFields, "nested.[REDACTED:ssn]")
	// Ids that are not identifiers are withheld whole, even after masking; other allow-listed keys keep the masked
	// value.
	for _, k := range []string{"request_id", "prompt.id", "session.id", "event.sequence"} {
		assert.Equal(t, notIdentifierMarker, r.Metadata[k], k)
	}
	assert.Equal(t, map[string]any{"x": "[REDACTED:email]"}, r.Metadata["decision"])
	// Identifiers under allow-listed keys pass as they are.
	for k, want := range map[string]any{
		"anthropic.provider": "firstParty", "tool_use_id": "toolu_01", "plugin.name": "cc-plugin-telemetry",
		"event.timestamp": "2026-11-22T08:46:14.896Z", "gen_ai.conversation.id": "b202ba49-6acd-41fe-8ea9-ba982ec1a75d",
		"safe_mode": true, "duration_ms": "103", "plugin_id_hash": "5d0ce5ab0cc32144",
	} {
		assert.Equal(t, want, r.Metadata[k], k)
	}
	metadatatest.AssertEqualGovernanceIdentifiersWithheld(t, tt, withheldPoints("logs", map[string]int64{
		"request_id": 1, "correlation_id": 1, "model": 1, "tool_name": 1, "provider": 1, "user_id": 1, "session_id": 1,
	}), metricdatatest.IgnoreTimestamp())
}

// A valid claimed email stays an identity fact (normalised); a claim on the resource applies to its records.
func TestClaimedEmailKeptOnlyWhenValid(t *testing.T) {
	g := newTestGovernor(t, nil)
	ld := logOf("claude-code", "claude_code.user_prompt", map[string]any{"user.email": " Alice@Example.com "})
	recs := records(t, g, authCtx(license(), nil), ld)
	require.Len(t, recs, 1)
	assert.Equal(t, "alice@example.com", recs[0].Metadata["claimed_user_email"])
	assert.Empty(t, recs[0].PIITypes, "a valid claim is not masked content")

	ld = logOf("claude-code", "claude_code.user_prompt", nil)
	ld.ResourceLogs().At(0).Resource().Attributes().PutStr("user.email", "x "+rawEmail)
	recs = records(t, g, authCtx(license(), nil), ld)
	assert.Equal(t, "x [REDACTED:email]", recs[0].Metadata["claimed_user_email"])
}

func TestIsIdentifierShape(t *testing.T) {
	for s, want := range map[string]bool{
		"Bash": true, "mcp__github__create_issue": true, "claude-opus-5-5": true, "req_011CRz7": true,
		"claude-3-5-sonnet-v2@20241022": true, "us.anthropic.claude-3-5-sonnet-20241022-v2:0": true,
		"b202ba49-6acd-41fe-8ea9-ba982ec1a75d": true, "2026-11-22T08:46:14.896Z": true,
		"": false, rawEmail: false, "a b": false, "[REDACTED:email]": false, "-x": false, "x\u202e": false,
		"tool\u200bname": false, strings.Repeat("a", 129): false, `{"x":1}`: false, "a@b@c": false,
	} {
		assert.Equal(t, want, audit.IsIdentifier(s), "%q", s)
	}
}

func TestPlainKey(t *testing.T) {
	for k, want := range map[string]bool{
		"tool_name": true, "gen_ai.request.model": true, "managed_settings.helper.state": true, "http/route": true,
		"v1234": true, "x12345": false, "a1.b2.c3.d4.e5": false, "contact " + rawEmail: false, rawSSN: false, "k\u202e": false,
		strings.Repeat("k", 129): false,
	} {
		assert.Equal(t, want, plainKey(k), "%q", k)
	}
}

// Two keys that mask alike keep both values.
func TestMaskedKeysDoNotCollide(t *testing.T) {
	g := newTestGovernor(t, nil)
	m := pcommon.NewMap()
	m.PutStr("a@example.com", "1")
	m.PutStr("b@example.com", "2")
	st := &maskState{perType: map[pii.Type]int64{}}
	g.masker.maskMap(m, st)
	got := map[string]string{}
	for k, v := range m.All() {
		got[k] = v.Str()
	}
	assert.Len(t, got, 2)
	assert.ElementsMatch(t, []string{"1", "2"}, []string{got["[REDACTED:email]"], got["[REDACTED:email]#2"]})
	assert.Equal(t, int64(2), st.perType[pii.TypeEmail])
}

// A 12 KB request_id (the poison record) and an email in X-Session-Id never reach a column, metadata or the
// decision fields: the id is withheld, the header refused.
func TestPoisonIDAndEmailSessionHeaderWithheld(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	poison := strings.Repeat("Zq9", 4096)
	ld := logOf("claude-code", "claude_code.user_prompt", map[string]any{"request_id": poison, "prompt": "hi"})
	out, recs := governed(t, tt, authCtx(license(), map[string][]string{"X-Session-Id": {rawEmail}}), ld)
	require.Len(t, recs, 1)
	requireNoRaw(t, out, recs, rawEmail, poison[:64])
	assert.Empty(t, recs[0].RequestID)
	assert.Empty(t, recs[0].SessionID)
	assert.NoError(t, recs[0].CheckCaps())
	metadatatest.AssertEqualGovernanceIdentityHeadersRefused(t, tt, []metricdata.DataPoint[int64]{{Value: 1,
		Attributes: attribute.NewSet(attribute.String("header", "x-session-id"), attribute.String("header_reason", "invalid"))}},
		metricdatatest.IgnoreTimestamp())
}
