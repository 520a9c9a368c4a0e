package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Ctrl-C during `govctl load` ends the run, not the process: the result is printed and --acked-file holds every
// acknowledged copy (it is written through a buffer, which a killed process would lose).
func TestLoadInterruptedWritesAckedFile(t *testing.T) {
	sink, url := httpSink(t, always(http.StatusOK))
	acked := filepath.Join(t.TempDir(), "acked.txt")
	ctx, stop := signalContext()
	defer stop()

	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"load", "--license", "test-license", "--developers", "3", "--json", "--endpoint", url,
		"--concurrency", "1", "--duration", "1h", "--max-events", "100000000", "--acked-file", acked})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	for {
		if n, _ := sink.snapshot(); n >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT)) // Ctrl-C
	require.NoError(t, <-done)

	var r loadResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &r), "%s", out.String())
	assert.Contains(t, errOut.String(), "interrupted")
	b, err := os.ReadFile(acked)
	require.NoError(t, err)
	lines := strings.Fields(string(b))
	require.NotEmpty(t, lines)
	assert.Equal(t, r.EventsAcked, int64(len(lines))*11, "one line per acknowledged copy of the 11-event session")
}
