package audit

import "testing"

func TestClassifyOrigin(t *testing.T) {
	cases := []struct {
		name                     string
		gateway, client, service string
		want                     Origin
	}{
		{"gateway id claude_desktop", "claude_desktop_eu1", "sdk-python", "", OriginClaudeDesktop},
		{"gateway id claude-desktop wins over client header", "Claude-Desktop-7", "claude-code", "claude-code", OriginClaudeDesktop},
		{"client claude-code", "", "claude-code", "", OriginClaudeCode},
		{"client claude-code with version", "", "Claude-Code/2.1.330", "", OriginClaudeCode},
		{"client claude-code-plugin is claude-code, not plugin", "", "claude-code-plugin/1.0", "", OriginClaudeCode},
		{"client claude-desktop prefix", "", "claude-desktop-mac/1.2", "", OriginClaudeDesktop},
		{"client mcp-proxy", "", "mcp-proxy", "", OriginClaudeDesktop},
		{"client sdk-", "", "sdk-python/0.40", "", OriginSDK},
		{"client openclaw", "", "openclaw", "", OriginPlugin},
		{"client ending in -plugin", "", "jetbrains-plugin/3", "", OriginPlugin},
		{"client header beats gateway id", "gw-1", "sdk-go", "", OriginSDK},
		{"unmatched client header then gateway id", "gw-1", "curl", "claude-code", OriginGateway},
		{"gateway id alone", "gw-1", "", "claude-code", OriginGateway},
		{"service claude-code", "", "", "claude-code", OriginClaudeCode},
		{"service claude-code-desktop", "", "", "claude-code-desktop", OriginClaudeDesktop},
		{"service claude-desktop", "", "", "claude-desktop", OriginClaudeDesktop},
		{"service cowork", "", "", "cowork", OriginClaudeDesktop},
		{"unmatched client header does not fall back to service.name", "", "curl/8", "claude-code", OriginUnknown},
		{"nothing", "", "", "my-app", OriginUnknown},
		{"empty", "", "", "", OriginUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyOrigin(tc.gateway, tc.client, tc.service); got != tc.want {
				t.Fatalf("ClassifyOrigin(%q, %q, %q) = %q, want %q", tc.gateway, tc.client, tc.service, got, tc.want)
			}
		})
	}
}

func TestPlaneAndRequestType(t *testing.T) {
	cases := []struct {
		service string
		origin  Origin
		event   string
		plane   Plane
		reqType string
	}{
		{"claude-code", OriginClaudeCode, "user_prompt", PlaneClaudeCode, "claude_code_user_prompt"},
		{"cowork", OriginClaudeDesktop, "tool_result", PlaneCowork, "cowork_tool_result"},
		{"claude-desktop", OriginClaudeDesktop, "api_request", PlaneClaudeDesktop, "claude_desktop_api_request"},
		{"claude-code-desktop", OriginClaudeDesktop, "api_error", PlaneClaudeDesktop, "claude_desktop_api_error"},
		{"my-gateway", OriginGateway, "api_request", PlaneGateway, "gateway_api_request"},
		{"my-app", OriginSDK, "api_request", PlaneSDK, "sdk_api_request"},
		{"", OriginUnknown, "plugin_loaded", PlaneSDK, "sdk_plugin_loaded"},
	}
	for _, tc := range cases {
		plane := PlaneOf(tc.service, tc.origin)
		if plane != tc.plane {
			t.Errorf("PlaneOf(%q, %q) = %q, want %q", tc.service, tc.origin, plane, tc.plane)
		}
		if got := RequestType(plane, tc.event); got != tc.reqType {
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
		if got := EventName(tc.attr, tc.body); got != tc.want {
			t.Errorf("EventName(%q, %q) = %q, want %q", tc.attr, tc.body, got, tc.want)
		}
	}
}
