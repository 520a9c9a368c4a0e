package governanceprocessor

import (
	"testing"

	"github.com/govcol/govcol/internal/audit"
)

func TestClassifyOrigin(t *testing.T) {
	cases := []struct {
		name                     string
		gateway, client, service string
		want                     audit.Origin
	}{
		{"gateway id claude_desktop", "claude_desktop_eu1", "sdk-python", "", audit.OriginClaudeDesktop},
		{"gateway id claude-desktop wins over client header", "Claude-Desktop-7", "claude-code", "claude-code", audit.OriginClaudeDesktop},
		{"client claude-code", "", "claude-code", "", audit.OriginClaudeCode},
		{"client claude-code with version", "", "Claude-Code/2.1.330", "", audit.OriginClaudeCode},
		{"client claude-code-plugin is claude-code, not plugin", "", "claude-code-plugin/1.0", "", audit.OriginClaudeCode},
		{"client claude-desktop prefix", "", "claude-desktop-mac/1.2", "", audit.OriginClaudeDesktop},
		{"client mcp-proxy", "", "mcp-proxy", "", audit.OriginClaudeDesktop},
		{"client sdk-", "", "sdk-python/0.40", "", audit.OriginSDK},
		{"client openclaw", "", "openclaw", "", audit.OriginPlugin},
		{"client ending in -plugin", "", "jetbrains-plugin/3", "", audit.OriginPlugin},
		{"client header beats gateway id", "gw-1", "sdk-go", "", audit.OriginSDK},
		{"unmatched client header then gateway id", "gw-1", "curl", "claude-code", audit.OriginGateway},
		{"gateway id alone", "gw-1", "", "claude-code", audit.OriginGateway},
		{"service claude-code", "", "", "claude-code", audit.OriginClaudeCode},
		{"service claude-code-desktop", "", "", "claude-code-desktop", audit.OriginClaudeDesktop},
		{"service claude-desktop", "", "", "claude-desktop", audit.OriginClaudeDesktop},
		{"service cowork", "", "", "cowork", audit.OriginClaudeDesktop},
		{"unmatched client header does not fall back to service.name", "", "curl/8", "claude-code", audit.OriginUnknown},
		{"nothing", "", "", "my-app", audit.OriginUnknown},
		{"empty", "", "", "", audit.OriginUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyOrigin(tc.gateway, tc.client, tc.service); got != tc.want {
				t.Fatalf("classifyOrigin(%q, %q, %q) = %q, want %q", tc.gateway, tc.client, tc.service, got, tc.want)
			}
		})
	}
}

func TestPlaneAndRequestType(t *testing.T) {
	cases := []struct {
		service string
		origin  audit.Origin
		event   string
		plane   audit.Plane
		reqType string
	}{
		{"claude-code", audit.OriginClaudeCode, "user_prompt", audit.PlaneClaudeCode, "claude_code_user_prompt"},
		{"cowork", audit.OriginClaudeDesktop, "tool_result", audit.PlaneCowork, "cowork_tool_result"},
		{"claude-desktop", audit.OriginClaudeDesktop, "api_request", audit.PlaneClaudeDesktop, "claude_desktop_api_request"},
		{"claude-code-desktop", audit.OriginClaudeDesktop, "api_error", audit.PlaneClaudeDesktop, "claude_desktop_api_error"},
		{"my-gateway", audit.OriginGateway, "api_request", audit.PlaneGateway, "gateway_api_request"},
		{"my-app", audit.OriginSDK, "api_request", audit.PlaneSDK, "sdk_api_request"},
		{"", audit.OriginUnknown, "plugin_loaded", audit.PlaneSDK, "sdk_plugin_loaded"},
	}
	for _, tc := range cases {
		plane := planeOf(tc.service, tc.origin)
		if plane != tc.plane {
			t.Errorf("planeOf(%q, %q) = %q, want %q", tc.service, tc.origin, plane, tc.plane)
		}
		if got := requestType(plane, tc.event); got != tc.reqType {
			t.Errorf("RequestType = %q, want %q", got, tc.reqType)
		}
	}
}

func TestEventName(t *testing.T) {
	cases := []struct{ attr, body, want string }{
		{"user_prompt", "claude_code.user_prompt", "user_prompt"},
		{"", "claude_code.tool_result", "tool_result"},
		{"", "cowork.tool_decision", "tool_decision"},
		{"", "claude_desktop.api_request", "api_request"},
		{"", "custom_event", "custom_event"},
		{" api_error ", "", "api_error"},
	}
	for _, tc := range cases {
		if got := bareEventName(tc.attr, tc.body); got != tc.want {
			t.Errorf("bareEventName(%q, %q) = %q, want %q", tc.attr, tc.body, got, tc.want)
		}
	}
}
