package auditapiextension

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds headless Chromium; a missing browser fails the test with the install command.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("headless Chromium not found: apt-get install chromium")
	return ""
}

// The Log Explorer in a real headless Chromium: enter a license, filter by action, expand a row, read the detail
// panel, open the report, and save a screenshot (GOVCOL_ARTIFACTS_DIR, else the test's temp dir).
func TestLogExplorerInHeadlessChromium(t *testing.T) {
	fx := newFixture(t, nil)
	lic := fx.tenantReader("tenant-a")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1400, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for _, a := range steps {
			_, err := chromedp.Run(ctx, a)
			require.NoError(t, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		require.NoError(t, err)
		return s
	}
	do(chromedp.Navigate(fx.base+"/audit/"),
		chromedp.WaitVisible("#license"),
		chromedp.SendKeys("#license", lic),
		chromedp.Click("#use-license"),
		chromedp.WaitVisible("#results tbody tr.row"))
	assert.Contains(t, text("#status"), "11 records")
	do(chromedp.SetValue("#f-action", "redacted"),
		chromedp.Click("#apply"),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.WaitVisible("#results tbody tr.row"))
	status, rows := text("#status"), text("#results tbody")
	do(chromedp.Click("#results tbody tr.row"), chromedp.WaitVisible("#detail"))
	detail := text("#detail")
	do(chromedp.Click("#report-btn"), chromedp.WaitVisible("#report-table"))
	reportText := text("#report")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)

	// Under the page's Content-Security-Policy (issue 17, finding 8): style.css applied, app.js ran (above), an
	// injected inline script is refused, and an export still downloads through its blob: URL.
	headerBg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header")).backgroundColor`))
	require.NoError(t, err)
	assert.Equal(t, "rgb(29, 35, 48)", headerBg, "style.css is allowed")
	inline, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.createElement("script");
		s.textContent = "window.__inlineRan = true"; document.body.appendChild(s); return window.__inlineRan === true; })()`))
	require.NoError(t, err)
	assert.False(t, inline, "the CSP refuses inline scripts")
	do(chromedp.Click("#export-csv"), chromedp.Sleep(time.Second))
	assert.Contains(t, text("#status"), "Export ready")

	assert.Contains(t, status, "records")
	assert.NotContains(t, rows, "allowed", "the action filter applies")
	assert.Contains(t, rows, "redacted")
	for _, want := range []string{"Decision id", "Plane", "Request (masked)", "Matched policies", "sys_pii_redaction",
		"Session id", "Trace / span", "Latency (ms)", "Tokens (in / out / total)", "Cost (USD)", "Compliance flags", "Chain", "tenant-a"} {
		assert.Contains(t, detail, want)
	}
	assert.NotContains(t, detail, "123-45-6789", "masked content only")
	assert.Contains(t, reportText, "Report by action")
	assert.Contains(t, reportText, "sys_pii_redaction")

	dir := os.Getenv("GOVCOL_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "log-explorer.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	require.Greater(t, len(shot), 10_000, "a real screenshot")
	assert.True(t, strings.HasPrefix(string(shot[:8]), "\x89PNG\r\n\x1a\n"), "PNG")
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}
