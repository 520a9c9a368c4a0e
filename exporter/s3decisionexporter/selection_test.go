package s3decisionexporter

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/exporter/postgresauditexporter"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/pgtest"
	auditstore "github.com/govcol/govcol/internal/store"
)

// storeInPostgres writes ld to audit_logs through the real postgresaudit exporter and waits until every record is
// stored.
func storeInPostgres(t testing.TB, dsn string, ld plog.Logs) {
	t.Helper()
	pf := postgresauditexporter.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*postgresauditexporter.Config)
	pcfg.DSN = configopaque.String(dsn)
	pcfg.Fallback.Path = filepath.Join(t.TempDir(), "fallback.jsonl")
	pg, err := pf.CreateLogs(context.Background(), exportertest.NewNopSettings(pf.Type()), pcfg)
	require.NoError(t, err)
	require.NoError(t, pg.Start(context.Background(), componenttest.NewNopHost()))
	before := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs")
	require.NoError(t, pg.ConsumeLogs(context.Background(), ld))
	want := before + int64(ld.LogRecordCount())
	eventually(t, time.Minute, "records stored", func() bool {
		return pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit_logs") >= want
	})
	require.NoError(t, pg.Shutdown(context.Background()))
}

// storedRecords reads audit_logs back the way the reconciler does.
func storedRecords(t testing.TB, dsn string) map[string]audit.Record {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	out := map[string]audit.Record{}
	require.NoError(t, auditstore.ReadRecords(context.Background(), conn, auditstore.SelectRecords("audit_logs"), nil, func(e *integrity.Entry) error {
		if err := auditstore.DecodeStoredJSON(e); err != nil {
			return err
		}
		out[e.Record.DecisionID] = e.Record
		return nil
	}))
	return out
}

func selectedEvents(t *testing.T, sel *selector, ld plog.Logs) []string {
	var out []string
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if sel.selects(context.Background(), rl, sl, lr) {
					ev, _ := lr.Attributes().Get(audit.AttrEvent)
					out = append(out, ev.Str())
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// The default selection over the captured Claude Code session: the tool decision, and the prompt and the
// response whose PII was redacted, are decisions; plugin_loaded, managed_settings_resolved, api_request and
// tool_result (all allowed) are activity.
func TestDefaultSelectionOfTheClaudeCodeFixture(t *testing.T) {
	sel, err := newSelector(DefaultSelection, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	ld := governed(t, "tenant-a")
	assert.Equal(t, []string{"assistant_response", "tool_decision", "user_prompt"}, selectedEvents(t, sel, ld))

	// A blocked tool result is selected too (verdict not allowed), an allowed one is not.
	for _, rl := range ld.ResourceLogs().All() {
		for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
			if ev, _ := lr.Attributes().Get(audit.AttrEvent); ev.Str() == "tool_result" {
				lr.Attributes().PutStr(audit.AttrPolicyDecision, "blocked")
			}
		}
	}
	assert.Equal(t, []string{"assistant_response", "tool_decision", "tool_result", "user_prompt"}, selectedEvents(t, sel, ld))

	_, err = newSelector(`attributes["x"] ==`, componenttest.NewNopTelemetrySettings())
	require.ErrorContains(t, err, "selection is not a valid OTTL condition")
}

// The reconciler evaluates the selection on the record rebuilt from its audit_logs row: for the default and for
// conditions on other record attributes (kept in metadata), the resource, and audit.* columns, it selects exactly
// the records the live path selects.
func TestSelectionAgreesOnRowsRebuiltFromPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ld := governed(t, "tenant-a")
	storeInPostgres(t, dsn, ld)
	stored := storedRecords(t, dsn)
	require.Len(t, stored, audittest.FixtureRecords)
	for _, cond := range []string{
		DefaultSelection,
		`attributes["decision"] == "accept"`,
		`attributes["tool_name"] == "Bash" and attributes["audit.event"] == "tool_result"`,
		`resource.attributes["service.name"] == "claude-code" and attributes["audit.policy_label"] == "sys_pii_redaction"`,
		`attributes["audit.tool_name"] != nil and attributes["audit.pii_types"] == nil`,
		`attributes["audit.pii_types"] != nil and attributes["audit.user_email"] != nil`,
		`attributes["audit.request_type"] == "claude_code_api_request" and attributes["audit.tenant_id"] == "tenant-a"`,
	} {
		sel, err := newSelector(cond, componenttest.NewNopTelemetrySettings())
		require.NoError(t, err, cond)
		live := map[string]bool{}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					live[audittest.Record(t, lr).DecisionID] = sel.selects(context.Background(), rl, sl, lr)
				}
			}
		}
		n := 0
		for id, r := range stored {
			assert.Equal(t, live[id], sel.selectsRecord(context.Background(), &r), "%s on %s", cond, r.RequestType)
			if live[id] {
				n++
			}
		}
		assert.Positive(t, n, "%s selects something", cond)
		assert.Less(t, n, audittest.FixtureRecords, "%s leaves something out", cond)
	}
}

// The default selection's Go evaluation selects exactly the records its OTTL condition selects: the governed
// fixture, and records whose audit.event or audit.policy_decision is missing, of another type, or another value.
func TestDefaultSelectionNative(t *testing.T) {
	sel, err := newSelector(DefaultSelection, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	require.NotNil(t, sel.native, "the default selection is evaluated natively")
	custom, err := newSelector(`attributes["audit.policy_decision"] == "blocked"`, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	assert.Nil(t, custom.native, "any other condition is evaluated by OTTL")

	ld := governed(t, "tenant-a")
	rl := ld.ResourceLogs().At(0)
	sl := rl.ScopeLogs().At(0)
	base := plog.NewLogRecord()
	sl.LogRecords().At(0).CopyTo(base)
	variants := []func(lr plog.LogRecord){
		func(lr plog.LogRecord) { lr.Attributes().Remove(audit.AttrEvent) },
		func(lr plog.LogRecord) { lr.Attributes().Remove(audit.AttrPolicyDecision) },
		func(lr plog.LogRecord) { lr.Attributes().PutInt(audit.AttrPolicyDecision, 1) },
		func(lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrPolicyDecision, "allowed") },
		func(lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrPolicyDecision, "blocked") },
		func(lr plog.LogRecord) { lr.Attributes().PutStr(audit.AttrPolicyDecision, "Allowed") },
		func(lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrPolicyDecision, "allowed")
			lr.Attributes().PutStr(audit.AttrEvent, "tool_decision")
		},
		func(lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrPolicyDecision, "allowed")
			lr.Attributes().PutStr(audit.AttrEvent, "code_edit_tool_decision")
		},
		func(lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrPolicyDecision, "allowed")
			lr.Attributes().PutInt(audit.AttrEvent, 7)
		},
		func(lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrPolicyDecision, "allowed")
			lr.Attributes().PutStr(audit.AttrEvent, "tool_decision ")
		},
		func(lr plog.LogRecord) {
			lr.Attributes().PutStr(audit.AttrPolicyDecision, "allowed")
			lr.Attributes().PutEmptySlice(audit.AttrEvent).AppendEmpty().SetStr("tool_decision")
		},
	}
	for _, v := range variants {
		lr := sl.LogRecords().AppendEmpty()
		base.CopyTo(lr)
		v(lr)
	}
	selected := 0
	for i, lr := range sl.LogRecords().All() {
		want := sel.selectsOTTL(context.Background(), rl, sl, lr)
		assert.Equal(t, want, sel.selects(context.Background(), rl, sl, lr), "record %d", i)
		if want {
			selected++
		}
	}
	assert.Positive(t, selected)
	assert.Less(t, selected, sl.LogRecords().Len())
}
