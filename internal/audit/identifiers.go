package audit

import "strings"

// The Claude Code and Cowork events with a dedicated mapping in the governance processor (docs/ARCHITECTURE.md §5). Every other event is still
// recorded, with its attributes in metadata.
const (
	EventUserPrompt        = "user_prompt"
	EventAssistantResponse = "assistant_response"
	EventToolDecision      = "tool_decision"
	EventToolResult        = "tool_result"
	EventAPIRequest        = "api_request"
	EventAPIError          = "api_error"
)

// EventUnknown is the event name of a record whose event is not in KnownEvents (or a configured extension of it).
const EventUnknown = "unknown"

// KnownEvents are the event names govcol stores as identifiers (request_type, audit.event, metadata.event_name):
// the events Claude Code, Cowork and Claude Desktop emit (without their claude_code. / cowork. / claude_desktop.
// prefix) and the OpenTelemetry GenAI semantic-convention events SDKs and gateways emit. Any other name is
// content a client chose and is stored as "unknown" (the record itself, masked, is kept).
var KnownEvents = map[string]bool{
	// Claude Code / Cowork / Claude Desktop
	EventUserPrompt: true, EventAssistantResponse: true, EventToolDecision: true, EventToolResult: true,
	EventAPIRequest: true, EventAPIError: true, "api_retries_exhausted": true,
	"plugin_loaded": true, "plugin_installed": true, "plugin_uninstalled": true, "managed_settings_resolved": true,
	"hook_started": true, "hook_completed": true, "hook_execution_start": true, "hook_execution_complete": true,
	"mcp_server_connection": true, "mcp_tool_call": true, "permission_request": true, "compaction": true,
	"session_start": true, "session_end": true, "subagent_start": true, "subagent_end": true,
	"skill_activated": true, "slash_command": true, "file_edit": true, "code_edit_tool_decision": true,
	"login": true, "logout": true, "auth": true, "model_switch": true, "feedback": true, "cost_threshold": true,
	// OpenTelemetry GenAI semantic conventions (SDKs, gateways)
	"gen_ai.client.inference.operation.details": true, "gen_ai.evaluation.result": true,
	"gen_ai.system.message": true, "gen_ai.user.message": true, "gen_ai.assistant.message": true,
	"gen_ai.tool.message": true, "gen_ai.choice": true,
}

// IsIdentifier reports whether s has the shape of an identifier govcol stores unscanned in a column or label: 1 to
// MaxIdentifierBytes bytes of ASCII letters, digits and . _ : / + - (starting with a letter or digit), and at most
// one @ whose right side has no dot (a version or region suffix such as Vertex AI's model@20241022, never an email
// domain). Spaces, control and format characters, brackets and quotes make a value content, not an identifier.
// Shape is necessary, not sufficient: callers also check that the PII engine finds nothing in it.
func IsIdentifier(s string) bool {
	if s == "" || len(s) > MaxIdentifierBytes || !isAlnum(s[0]) {
		return false
	}
	at := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c), c == '.', c == '_', c == ':', c == '/', c == '+', c == '-':
		case c == '@' && at < 0:
			at = i
		default:
			return false
		}
	}
	return at < 0 || (at < len(s)-1 && !strings.ContainsRune(s[at+1:], '.'))
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
