package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"strings"

	"github.com/govcol/govcol/internal/audit"
)

// Where a record came from: origin, plane, event name and request_type (docs/ARCHITECTURE.md §4).

// Request headers that feed the classification.
const (
	headerGatewayID = "X-Axonflow-Gateway-Id"
	headerClient    = "X-Axonflow-Client"
)

// classifyOrigin applies the docs/ARCHITECTURE.md §4 rules, first match wins:
//  1. a gateway id starting with claude_desktop / claude-desktop -> claude-desktop;
//  2. the client header, lower-cased and cut at "/": claude-code or claude-code-plugin -> claude-code; starting
//     with claude-desktop or equal to mcp-proxy -> claude-desktop; starting with sdk- -> sdk; openclaw or ending
//     in -plugin -> plugin;
//  3. any gateway id -> gateway;
//  4. only when no client header was sent: the resource service.name claude-code -> claude-code;
//     claude-code-desktop, claude-desktop or cowork -> claude-desktop;
//  5. else unknown.
//
// A client header that matches no rule does not fall back to service.name: the caller said who it is, and we do
// not second-guess it with a payload attribute.
func classifyOrigin(gatewayID, clientHeader, serviceName string) audit.Origin {
	gatewayID = strings.ToLower(strings.TrimSpace(gatewayID))
	if strings.HasPrefix(gatewayID, "claude_desktop") || strings.HasPrefix(gatewayID, "claude-desktop") {
		return audit.OriginClaudeDesktop
	}
	client := strings.ToLower(strings.TrimSpace(clientHeader))
	if i := strings.IndexByte(client, '/'); i >= 0 {
		client = client[:i]
	}
	switch {
	case client == "claude-code" || client == "claude-code-plugin":
		return audit.OriginClaudeCode
	case strings.HasPrefix(client, "claude-desktop") || client == "mcp-proxy":
		return audit.OriginClaudeDesktop
	case strings.HasPrefix(client, "sdk-"):
		return audit.OriginSDK
	case client == "openclaw" || strings.HasSuffix(client, "-plugin"):
		return audit.OriginPlugin
	}
	if gatewayID != "" {
		return audit.OriginGateway
	}
	if strings.TrimSpace(clientHeader) == "" {
		switch strings.ToLower(strings.TrimSpace(serviceName)) {
		case "claude-code":
			return audit.OriginClaudeCode
		case "claude-code-desktop", "claude-desktop", "cowork":
			return audit.OriginClaudeDesktop
		}
	}
	return audit.OriginUnknown
}

// planeOf derives the plane from the resource service.name (claude-code, cowork, claude-desktop or
// claude-code-desktop), else from the origin: gateway -> gateway, anything else -> sdk.
func planeOf(serviceName string, origin audit.Origin) audit.Plane {
	switch strings.ToLower(strings.TrimSpace(serviceName)) {
	case "claude-code":
		return audit.PlaneClaudeCode
	case "cowork":
		return audit.PlaneCowork
	case "claude-desktop", "claude-code-desktop":
		return audit.PlaneClaudeDesktop
	}
	if origin == audit.OriginGateway {
		return audit.PlaneGateway
	}
	return audit.PlaneSDK
}

// bareEventName returns the bare event name of a log record: the event.name attribute, else the body without the
// claude_code. / cowork. / claude_desktop. prefix.
func bareEventName(eventNameAttr, body string) string {
	if name := strings.TrimSpace(eventNameAttr); name != "" {
		return name
	}
	for _, prefix := range []string{"claude_code.", "cowork.", "claude_desktop."} {
		if strings.HasPrefix(body, prefix) {
			return body[len(prefix):]
		}
	}
	return body
}

// requestType is `<plane>_<event>`, e.g. claude_code_user_prompt.
func requestType(plane audit.Plane, event string) string {
	return string(plane) + "_" + event
}
