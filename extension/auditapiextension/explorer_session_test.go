package auditapiextension

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// browser is a headless Chromium page driven by a test.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	for _, a := range steps {
		_, err := chromedp.Run(b.ctx, a)
		require.NoError(b.t, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	require.NoError(b.t, err)
	return s
}

func evalIn[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	require.NoError(b.t, err)
	return v
}

// clear empties the input with the given id (chromedp.SetValue refuses an empty value).
func (b *browser) clear(id string) {
	b.t.Helper()
	evalIn[bool](b, `(document.getElementById("`+id+`").value = "") === ""`)
}

// waitFor polls a JavaScript condition until it holds.
func (b *browser) waitFor(js string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(b.t, err, "waiting for %s", js)
}

// screenshot saves the viewport (full: the whole page) as name under dir and returns its path.
func (b *browser) screenshot(dir, name string, full bool) string {
	b.t.Helper()
	shoot := chromedp.CaptureScreenshot()
	if full {
		shoot = chromedp.FullScreenshot(100)
	}
	shot, err := chromedp.Run(b.ctx, shoot)
	require.NoError(b.t, err)
	require.Greater(b.t, len(shot), 10_000, "a real screenshot")
	require.True(b.t, strings.HasPrefix(string(shot[:8]), "\x89PNG\r\n\x1a\n"), "PNG")
	path := filepath.Join(dir, name)
	require.NoError(b.t, os.WriteFile(path, shot, 0o644))
	b.t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	return path
}

// setWhere sets key to v on the records of ld with request type rt.
func setWhere(ld plog.Logs, rt, key, v string) plog.Logs {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if got, ok := lr.Attributes().Get(audit.AttrRequestType); ok && got.Str() == rt {
					lr.Attributes().PutStr(key, v)
				}
			}
		}
	}
	return ld
}

// developerSession is the fixture session as developer email's session id, its events step apart from start.
func developerSession(t *testing.T, email, id string, start time.Time, step time.Duration) plog.Logs {
	ld := audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{})
	ld = setAll(setAll(ld, audit.AttrUserEmail, email), audit.AttrIdentitySource, "license")
	return spread(setAll(ld, audit.AttrSessionID, id), start, step)
}

// The Log Explorer as a reviewer uses it, in a real headless Chromium: the activity chart and the per-developer
// breakdown of the filtered window, a developer's records, a session opened from the table with its events in order
// and masked content, times with three millisecond digits, and a per-developer license that sees its own records
// only. Screenshots: explorer-overview.png and explorer-session.png (GOVCOL_ARTIFACTS_DIR, else the test's temp dir).
func TestLogExplorerSessionAndOverviewInHeadlessChromium(t *testing.T) {
	fx := newFixture(t, nil)
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	// alice's first session: every event at a millisecond ending in zero (.690), the case that displayed "09.69+".
	storeLogs(t, fx.dsn,
		developerSession(t, "alice@example.com", "sess-alice-1", day.Add(7*time.Hour+49*time.Minute+9690*time.Millisecond), 3*time.Second),
		developerSession(t, "alice@example.com", "sess-alice-2", day.Add(9*time.Hour+10*time.Minute+500*time.Millisecond), 7*time.Second),
		setWhere(developerSession(t, "bob@example.com", "sess-bob", day.Add(8*time.Hour+20*time.Minute), 2*time.Second),
			"claude_code_tool_decision", audit.AttrPolicyDecision, string(audit.VerdictBlocked)),
		developerSession(t, "carol@example.com", "sess-carol", day.Add(10*time.Hour+5*time.Minute+40*time.Millisecond), time.Second))
	dir := os.Getenv("GOVCOL_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))

	b := newBrowser(t)
	b.do(chromedp.Navigate(fx.base+"/audit/"),
		chromedp.WaitVisible("#license"),
		chromedp.SetValue("#license", fx.tenantReader("tenant-a")),
		chromedp.Click("#use-license"),
		chromedp.WaitVisible("#results tbody tr.row"),
		chromedp.WaitVisible("#developers-table"),
		chromedp.WaitVisible("#activity-chart"))
	assert.Contains(t, b.text("#status"), "55 records")

	// Time display: three millisecond digits, always (unit cases in the browser's own Date).
	for in, want := range map[string]string{
		"2026-11-23T07:49:09.69+00:00":     "2026-11-23 07:49:09.690",
		"2026-11-23T07:49:09+00:00":        "2026-11-23 07:49:09.000",
		"2026-11-23T07:49:09.1+00:00":      "2026-11-23 07:49:09.100",
		"2026-11-23T07:49:09.123456+00:00": "2026-11-23 07:49:09.123",
		"2026-11-23T08:49:09.5+01:00":      "2026-11-23 07:49:09.500",
		"2026-11-23T23:59:59.9999Z":        "2026-11-23 23:59:59.999",
	} {
		assert.Equal(t, want, evalIn[string](b, `GovcolTime.format("`+in+`")`), in)
	}

	// The overview: every readable record is in the chart; four developers, alice first with two sessions.
	chartTotal := evalIn[int](b, `[...document.querySelectorAll("#activity-chart g.bucket")].reduce((s, g) => s + Number(g.dataset.total), 0)`)
	assert.Equal(t, 55, chartTotal)
	assert.Greater(t, evalIn[int](b, `document.querySelectorAll("#activity-chart rect.bar-blocked").length`), 0, "bob's blocked decision is drawn")
	devs := b.text("#developers-table tbody")
	assert.Equal(t, 4, evalIn[int](b, `document.querySelectorAll("#developers-table tbody tr").length`))
	assert.Regexp(t, `^alice@example\.com\s+tenant-a\s+22\s+2\b`, devs)
	assert.Contains(t, devs, "bob@example.com")
	assert.Contains(t, devs, "blocked 1")
	assert.Contains(t, b.text("#activity"), "55 records")
	shotOverview := b.screenshot(dir, "explorer-overview.png", false)

	// A developer from the breakdown filters the page to their records.
	b.do(chromedp.Click(`#developers-table a.dev-link`))
	b.waitFor(`document.getElementById("status").textContent === "22 records"`)
	b.waitFor(`document.querySelectorAll("#developers-table tbody tr").length === 1`)
	assert.Equal(t, "alice@example.com", evalIn[string](b, `document.getElementById("f-user").value`))
	rows := b.text("#results tbody")
	assert.Contains(t, rows, "2026-11-22 07:49:09.690", "a millisecond ending in zero keeps its three digits")
	assert.NotRegexp(t, regexp.MustCompile(`:\d\d\.\d{0,2}\+`), rows, "no cut-off fraction")
	assert.NotRegexp(t, regexp.MustCompile(`\d\d:\d\d:\d\d\.\d{3}\d`), rows)

	// A session from the table: its events in order, prompt -> tool decision -> results, masked.
	b.do(chromedp.Click(`#results tbody a.session-link[title="sess-alice-1"]`),
		chromedp.WaitVisible("#session-events li.ev"))
	b.waitFor(`document.querySelectorAll("#session-events li.ev").length === 11`)
	assert.True(t, evalIn[bool](b, `document.getElementById("list-view").hidden`), "the list is replaced by the session")
	kinds := evalIn[[]string](b, `[...document.querySelectorAll("#session-events li.ev")].map((li) => li.dataset.kind)`)
	assert.Equal(t, []string{"Managed settings resolved", "Plugin loaded", "Plugin loaded", "Plugin loaded", "Plugin loaded",
		"Prompt", "Tool decision", "API request", "Tool result", "API request", "Response"}, kinds)
	events := b.text("#session-events")
	assert.Contains(t, events, "[REDACTED:ssn]")
	assert.Contains(t, events, "PROMPT (MASKED)", "labelled as masked (the label is upper-cased by CSS)")
	assert.Contains(t, events, "Bash: accept (config)")
	assert.Contains(t, events, "Bash: succeeded")
	assert.Contains(t, events, "[REDACTED:email]", "the masked response")
	assert.NotContains(t, events, "123-45-6789")
	assert.Contains(t, events, "07:49:09.690")
	assert.Contains(t, events, "+15.0 s", "offset of the sixth event, 5 x 3 s")
	summary := b.text("#session-summary")
	for _, want := range []string{"alice@example.com", "2026-11-22 07:49:09.690", "2026-11-22 07:49:39.690", "30.0 s", "11", "redacted 2", "allowed 9"} {
		assert.Contains(t, summary, want)
	}
	assert.Contains(t, b.text("#session-id"), "sess-alice-1")
	// An event expands to the full record.
	b.do(chromedp.Click(`#session-events li.k-prompt`), chromedp.WaitVisible(`#session-events li.k-prompt .detail-panel`))
	assert.Contains(t, b.text(`#session-events li.k-prompt .detail-panel`), "sys_pii_redaction")
	shotSession := b.screenshot(dir, "explorer-session.png", true)

	// Back to the list, filters kept.
	b.do(chromedp.Click("#session-back"), chromedp.WaitVisible("#results tbody tr.row"))
	b.waitFor(`document.getElementById("status").textContent === "22 records"`)

	// A bar of the chart narrows the window to its bucket.
	b.clear("f-user")
	b.do(chromedp.Click("#apply"))
	b.waitFor(`document.getElementById("status").textContent === "55 records"`)
	b.waitFor(`document.querySelectorAll("#developers-table tbody tr").length === 4`)
	b.do(chromedp.Click(`#activity-chart g.bucket:not(.bucket-empty)`))
	b.waitFor(`document.getElementById("f-start").value !== ""`)
	b.waitFor(`document.getElementById("status").textContent === "11 records"`)
	assert.Contains(t, b.text("#results tbody"), "2026-11-22 07:49:")

	// A per-developer read license: its own records, its own sessions; a colleague's session shows nothing.
	alice := claims("tenant-a", license.ScopeRead)
	alice.Email = "alice@example.com"
	b.clear("f-start")
	b.clear("f-end")
	b.do(chromedp.SetValue("#license", fx.issue(alice)), chromedp.Click("#use-license"))
	b.waitFor(`document.getElementById("status").textContent === "22 records"`)
	b.waitFor(`document.querySelectorAll("#developers-table tbody tr").length === 1`)
	assert.Contains(t, b.text("#developers"), "1 developer")
	b.do(chromedp.Navigate(fx.base + "/audit/#session=sess-bob"))
	b.waitFor(`document.getElementById("status").textContent.includes("No events of this session")`)
	assert.Zero(t, evalIn[int](b, `document.querySelectorAll("#session-events li.ev").length`))

	for _, p := range []string{shotOverview, shotSession} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(10_000))
	}
}
