package s3decisionexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
)

// recipeResult is what testdata/recipe_queries.mjs prints.
type recipeResult struct {
	Total          int   `json:"total"`
	SchemaVersions []int `json:"schema_versions"`
	BlockedBQ      []struct {
		DecisionID    string `json:"decision_id"`
		Decision      string `json:"decision"`
		PolicyID      string `json:"policy_id"`
		ToolSignature string `json:"tool_signature"`
	} `json:"blocked_bigquery"`
	Joined []struct {
		DecisionID string `json:"decision_id"`
		Decision   string `json:"decision"`
		Principal  string `json:"principal"`
		Operation  string `json:"bq_operation"`
	} `json:"joined"`
	ByDeveloper []struct {
		UserEmail string `json:"user_email"`
		N         int    `json:"n"`
	} `json:"by_developer"`
	Sessions int `json:"sessions"`
}

// recipeStore is 24 sessions of the captured Claude Code run, seven minutes apart (three hour partitions), by four
// developers; the tool call of even sessions is an MCP BigQuery query, of odd ones Bash; every third session's tool
// call was rejected (blocked by sys_tool_rejected).
func recipeStore(t *testing.T, first time.Time) (plog.Logs, map[string]int) {
	base := governed(t, "tenant-a")
	out := plog.NewLogs()
	notAllowed := map[string]int{}
	for i := range 24 {
		ld := audittest.Renumber(base, first.Add(time.Duration(i)*7*time.Minute))
		dev := fmt.Sprintf("dev%d@example.com", i%5%4) // dev0 has more sessions
		for _, rl := range ld.ResourceLogs().All() {
			for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
				a := lr.Attributes()
				a.PutStr(audit.AttrUserEmail, dev)
				a.PutStr(audit.AttrSessionID, fmt.Sprintf("sess-%02d", i))
				ev, _ := a.Get(audit.AttrEvent)
				if ev.Str() == "tool_decision" {
					if i%2 == 0 {
						a.PutStr(audit.AttrToolName, "mcp__bigquery__jobs_query")
					}
					if i%3 == 0 {
						a.PutStr(audit.AttrPolicyDecision, "blocked")
						a.PutStr(audit.AttrPolicyDetails, `{"evaluated":[{"id":"sys_tool_rejected","matched":true,"verdict":"blocked"}],"matched":["sys_tool_rejected"],"reasons":["tool call rejected"],"top_policy":"sys_tool_rejected"}`)
					}
				}
				if v, _ := a.Get(audit.AttrPolicyDecision); v.Str() != "allowed" {
					notAllowed[dev]++
				}
			}
		}
		ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
	}
	return out, notAllowed
}

// The recipe's query shapes (siem-correlation-recipe: the Elasticsearch filter on decision, tool_signature and time,
// the BigQuery join on the echoed decision_id, a group by developer, the session key) run with DuckDB over the files
// the exporter wrote, in both layouts, through one table definition, with the expected counts.
func TestRecipeQueriesOverBothLayouts(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "node_modules", "@duckdb", "node-api"))
	require.NoError(t, err, "DuckDB for Node is missing: run `npm install` in the repository root (package.json pins @duckdb/node-api)")
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is needed for the DuckDB recipe test")

	first := time.Date(2026, 3, 1, 10, 2, 0, 0, time.UTC)
	ld, notAllowed := recipeStore(t, first)
	from, to := first.Add(time.Hour), first.Add(2*time.Hour) // 11:02 to 12:02: sessions 9 to 17

	// What the queries must find, from the sessions as built.
	var wantBlocked, wantJoined []string
	downstream := &strings.Builder{}
	for _, rl := range ld.ResourceLogs().All() {
		for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
			a := lr.Attributes()
			if ev, _ := a.Get(audit.AttrEvent); ev.Str() != "tool_decision" {
				continue
			}
			rec := audittest.Record(t, lr)
			id, tool, verdict, at := rec.DecisionID, rec.ToolName, string(rec.PolicyDecision), rec.Timestamp
			inRange := !at.Before(from) && !at.After(to)
			bq := tool == "mcp__bigquery__jobs_query"
			if bq && verdict == "blocked" && inRange {
				wantBlocked = append(wantBlocked, id)
			}
			if bq && verdict == "allowed" {
				// The warehouse ran the query the agent was allowed to make and logged the echoed decision id.
				fmt.Fprintf(downstream, `{"timestamp":%q,"labels":{"axonflow_decision_id":%q},"protoPayload":{"methodName":"jobservice.jobcompleted","authenticationInfo":{"principalEmail":"etl@acme.iam.gserviceaccount.com"}}}`+"\n",
					at.Add(2*time.Second).Format(time.RFC3339Nano), id)
				if inRange {
					wantJoined = append(wantJoined, id)
				}
			}
		}
	}
	for range 5 { // downstream activity no decision governed
		fmt.Fprintf(downstream, `{"timestamp":%q,"labels":{"axonflow_decision_id":%q},"protoPayload":{"methodName":"jobservice.insert","authenticationInfo":{"principalEmail":"cron@acme.iam.gserviceaccount.com"}}}`+"\n",
			first.Add(90*time.Minute).Format(time.RFC3339Nano), uuid.NewString())
	}
	require.NotEmpty(t, wantBlocked)
	require.NotEmpty(t, wantJoined)
	sort.Strings(wantBlocked)
	sort.Strings(wantJoined)
	downPath := filepath.Join(t.TempDir(), "cloudaudit.jsonl")
	require.NoError(t, os.WriteFile(downPath, []byte(downstream.String()), 0o600))

	for _, layout := range []string{LayoutPerDecision, LayoutBatched} {
		t.Run(layout, func(t *testing.T) {
			dir := t.TempDir()
			cfg := createDefaultConfig().(*Config)
			cfg.LocalDir = dir
			cfg.Layout = layout
			tel := newTel(t)
			exp, _ := startPipelineExporter(t, cfg, tel)
			require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
			require.NoError(t, exp.Shutdown(context.Background()))
			require.Equal(t, int64(72), outcomes(t, tel)["shipped"], "3 decisions per session")

			glob := filepath.Join(dir, "axonflow", "decisions", "*", "*", "*", "*.json")
			if layout == LayoutBatched {
				glob = filepath.Join(dir, "axonflow", "decisions", "*", "*", "*", "*", "*.jsonl.gz")
				objs, err := filepath.Glob(glob)
				require.NoError(t, err)
				assert.Len(t, objs, 3, "one object per hour partition")
			}
			cmd := exec.Command(node, filepath.Join("testdata", "recipe_queries.mjs"), glob, downPath,
				from.Format(time.RFC3339), to.Format(time.RFC3339))
			out, err := cmd.Output()
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			require.NoError(t, err, "%s", stderr)
			var res recipeResult
			require.NoError(t, json.Unmarshal(out, &res), "%s", out)

			assert.Equal(t, 72, res.Total)
			assert.Equal(t, []int{SchemaVersion}, res.SchemaVersions)
			var gotBlocked []string
			for _, r := range res.BlockedBQ {
				gotBlocked = append(gotBlocked, r.DecisionID)
				assert.Equal(t, "blocked", r.Decision)
				assert.Equal(t, "sys_tool_rejected", r.PolicyID)
				assert.Equal(t, "bigquery.jobs_query", r.ToolSignature)
			}
			sort.Strings(gotBlocked)
			assert.Equal(t, wantBlocked, gotBlocked)
			var gotJoined []string
			for _, r := range res.Joined {
				gotJoined = append(gotJoined, r.DecisionID)
				assert.Equal(t, "allowed", r.Decision)
				assert.Equal(t, "etl@acme.iam.gserviceaccount.com", r.Principal)
				assert.Equal(t, "jobservice.jobcompleted", r.Operation)
			}
			sort.Strings(gotJoined)
			assert.Equal(t, wantJoined, gotJoined)
			got := map[string]int{}
			for _, r := range res.ByDeveloper {
				got[r.UserEmail] = r.N
			}
			assert.Equal(t, notAllowed, got)
			assert.Equal(t, 24, res.Sessions)
			t.Logf("%s: %d decisions; blocked BigQuery calls in range %d, joined with the warehouse log %d, not allowed per developer %v",
				layout, res.Total, len(gotBlocked), len(gotJoined), got)
		})
	}
}
