package governanceprocessor

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/audit"
)

// toolInputCorpus are tool inputs for the system policies: each alternative of their patterns, in other cases
// and with the runes that case-fold beyond ASCII (the Kelvin sign folds with k, the long s with s), near misses,
// and ordinary commands.
var toolInputCorpus = []string{
	`{"command":"rm -rf /"}`, `{"full_command":"sudo rm -fr ~ "}`, `rm -r -f $HOME`, `;rm --recursive --force *`,
	`(rm -Rf /*)`, `rm -rf ./build`, `format the disk`, `perform rm`, `mkfs.ext4 /dev/sda1`, `mkfs /dev/x`,
	`dd if=/dev/zero of=/dev/nvme0n1`, `dd of=/dev/disk2`, `:(){ :|:& };:`, `: ( ) { : | : & } ; :`,
	`chmod -R 777 /`, `chmod -R 0777 / `, `echo x > /dev/sda`, `cat >/dev/hda1"`,
	`{"command":"aws s3 ls --access-key [REDACTED:aws_access_key]"}`, `[github_token:1a2b3c4d]`, `[REDACTED:jwt]`,
	`[REDACTED:email]`, `[aws_secret_key]`, `PROD_DB_PASSWORD=x`, `prod-db-password`, `production.token`,
	`Prod_Pg_Secret`, "prod_pa\u017f\u017fword", "PRODUCTION_TO\u212aEN", "prod_api_\u212aey", `prod api-key`,
	`AWS_PROFILE=acme-prod`, `aws --profile=prod s3 ls`, `kubectl --context=eu-prod get secrets`,
	`kubectl --context eu-PROD get pods`, `source .env.production`, `cat .env.prod`, `ls secrets/prod`,
	`ls secret/production/x`, `products`, `reproduce the bug`, `{"command":"ls -la"}`, `{"command":"go test ./..."}`,
	`{"file_path":"/work/main/README.md","old_string":"a","new_string":"b"}`, "", "\xff\xfe rm -rf / \xff",
}

// The filter never rules out an input its pattern matches, on every system pattern and the corpus; and it does rule
// out ordinary commands (else it would save nothing).
func TestLitFilterNeverRulesOutAMatch(t *testing.T) {
	matched := 0
	for id, ottlPattern := range toolInputPatterns {
		raw, err := strconv.Unquote(`"` + ottlPattern + `"`)
		require.NoError(t, err)
		re := regexp.MustCompile(raw)
		f, err := newLitFilter(raw)
		require.NoError(t, err)
		require.NotNil(t, f, id)
		for _, s := range toolInputCorpus {
			if re.MatchString(s) {
				matched++
				assert.True(t, f.mayMatch(s), "%s matches %q but its filter rules it out", id, s)
			}
		}
		assert.False(t, f.mayMatch(`{"command":"ls -la"}`), id)
		assert.False(t, f.mayMatch(`{"command":"go test ./..."}`), id)
	}
	assert.Greater(t, matched, 25, "the corpus exercises the patterns")
}

// Every pattern and input: a match is never ruled out.
func FuzzLitFilter(f *testing.F) {
	for _, p := range toolInputPatterns {
		raw, _ := strconv.Unquote(`"` + p + `"`)
		for _, s := range toolInputCorpus {
			f.Add(raw, s)
		}
	}
	f.Add(`(?i)kelvin|\x{fffd}x|a+b{2,}c?`, "\u212aELVIN \xffx aabb")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		lf, err := newLitFilter(pattern)
		require.NoError(t, err)
		if re.MatchString(s) && !lf.mayMatch(s) {
			t.Fatalf("%q matches %q but its filter rules it out", pattern, s)
		}
	})
}

// The three log system policies on tool input get their filter, and with it decide every corpus input as their
// OTTL conditions alone do.
func TestToolInputFilterKeepsVerdicts(t *testing.T) {
	g := newTestGovernor(t, nil)
	unfiltered := newTestGovernor(t, nil)
	filters := 0
	for i, p := range g.policies.logs {
		if _, ok := toolInputPatterns[p.id]; ok {
			require.NotNil(t, p.input, p.id)
			filters++
		}
		cp := *unfiltered.policies.logs[i]
		cp.input = nil
		unfiltered.policies.logs[i] = &cp
	}
	require.Equal(t, len(toolInputPatterns), filters)
	ctx := authCtx(license(), claudeHeaders())
	for _, s := range toolInputCorpus {
		for _, key := range []string{"tool_input", "tool_parameters"} {
			for _, v := range []any{s, map[string]any{"command": s}} {
				attrs := map[string]any{"event.name": "tool_result", key: v}
				want := records(t, unfiltered, ctx, logOf("claude-code", "claude_code.tool_result", attrs))[0]
				got := records(t, g, ctx, logOf("claude-code", "claude_code.tool_result", attrs))[0]
				assert.Equal(t, want.PolicyDecision, got.PolicyDecision, "%s %q", key, s)
				assert.Equal(t, want.PolicyDetails, got.PolicyDetails, "%s %q", key, s)
				if want.PolicyDecision == audit.VerdictBlocked || want.PolicyDecision == audit.VerdictNeedsApproval {
					filters++
				}
			}
		}
	}
	assert.Greater(t, filters, len(toolInputPatterns)+20, "the corpus has inputs the policies match")
}
