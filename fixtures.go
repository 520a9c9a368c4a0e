// Package govcol holds what the whole repository shares at its root: the captured Claude Code 2.1.330 telemetry
// (testdata/claude-code-2.1.330), embedded so that tools such as `govctl load` can replay it.
package govcol

import _ "embed"

// ClaudeCodeLogsJSON is the captured OTLP/JSON logs export of one Claude Code 2.1.330 session (11 events: prompt,
// tool decision and result, API requests, response, plugin and settings events).
//
//go:embed testdata/claude-code-2.1.330/logs.json
var ClaudeCodeLogsJSON []byte
