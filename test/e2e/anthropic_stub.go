package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// AnthropicStub is a local stand-in for the Anthropic Messages API, enough for the real Claude Code CLI to run one
// agent turn: the first model call of a conversation answers with one Bash tool_use, the call that carries the
// tool_result answers with text. Other calls (title generation, quota probes) get a short non-tool answer.
type AnthropicStub struct {
	URL string
	// Command is the shell command asked for (StubToolCommand unless set before the run).
	Command string

	mu       sync.Mutex
	requests []string // "METHOD path" of every request, for diagnostics
}

// StubToolCommand is the shell command the stub asks Claude Code to run.
const StubToolCommand = "ls -la"

// StubAnswer is the final text answer; it carries an email so that masking has something to find downstream.
const StubAnswer = "Here are the files. Contact admin@corp.example for access."

// NewAnthropicStub starts the stub on loopback; it stops with the test.
func (s *AnthropicStub) command() string {
	if s.Command != "" {
		return s.Command
	}
	return StubToolCommand
}

func NewAnthropicStub(t testing.TB) *AnthropicStub {
	s := &AnthropicStub{}
	srv := httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests lists the requests seen so far.
func (s *AnthropicStub) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

type messagesRequest struct {
	Model    string            `json:"model"`
	Stream   bool              `json:"stream"`
	Messages []json.RawMessage `json:"messages"`
	Tools    []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

func (s *AnthropicStub) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()

	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/v1/messages/count_tokens"):
		writeJSON(w, map[string]any{"input_tokens": 1200})
		return
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/v1/messages"):
	default:
		// Anything else (HEAD probes, model lists, event logging) gets an empty success.
		writeJSON(w, map[string]any{"data": []any{}})
		return
	}

	var req messagesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	model := req.Model
	if model == "" {
		model = "claude-stub"
	}
	hasBash := false
	for _, tool := range req.Tools {
		if tool.Name == "Bash" {
			hasBash = true
		}
	}
	// Ask for the tool on the agent's first turn; answer with text once the tool result is in the conversation.
	useTool := hasBash && !strings.Contains(string(body), `"tool_result"`)

	if !req.Stream {
		content := []any{map[string]any{"type": "text", "text": StubAnswer}}
		stop := "end_turn"
		if useTool {
			content = []any{map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Bash",
				"input": map[string]any{"command": s.command(), "description": "List files in the working directory"}}}
			stop = "tool_use"
		}
		writeJSON(w, map[string]any{"id": "msg_01", "type": "message", "role": "assistant", "model": model,
			"content": content, "stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": 1200, "output_tokens": 25}})
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("request-id", "req_01")
	flusher, _ := w.(http.Flusher)
	event := func(name string, data any) {
		raw, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, raw)
		if flusher != nil {
			flusher.Flush()
		}
	}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_01", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 1200, "output_tokens": 1, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50},
	}})
	stop := "end_turn"
	if useTool {
		input, _ := json.Marshal(map[string]string{"command": s.command(), "description": "List files in the working directory"})
		event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": map[string]any{}}})
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": string(input)}})
		stop = "tool_use"
	} else {
		event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "text", "text": ""}})
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": StubAnswer}})
	}
	event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 25}})
	event("message_stop", map[string]any{"type": "message_stop"})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
