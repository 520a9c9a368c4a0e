package audit

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckCapsAndWithholdOverCaps(t *testing.T) {
	r := Record{ID: "aud_1", RequestID: strings.Repeat("r", 129), UserID: "u", PIITypes: []string{"email", strings.Repeat("t", 200)},
		Metadata: map[string]any{"k": strings.Repeat("m", MaxJSONColumnBytes)}}
	shared := r.PIITypes
	err := r.CheckCaps()
	require.Error(t, err)
	assert.Equal(t, "audit record: request_id is 129 bytes, over its cap of 128", err.Error(), "names the column and sizes, never the value")

	r.WithholdOverCaps(func(n, limit int) string { return "<" + strconv.Itoa(n) + ">" })
	assert.Equal(t, "<129>", r.RequestID)
	assert.Equal(t, "u", r.UserID, "values within their cap are kept")
	assert.Equal(t, []string{"email", "<200>"}, r.PIITypes)
	assert.Equal(t, strings.Repeat("t", 200), shared[1], "a list is copied before it is changed")
	assert.Equal(t, map[string]any{"withheld": "metadata <" + strconv.Itoa(len(`{"k":""}`)+MaxJSONColumnBytes) + ">"}, r.Metadata)
	assert.NoError(t, r.CheckCaps())

	within := Record{ID: "aud_2", Query: strings.Repeat("q", MaxContentColumnBytes)}
	assert.NoError(t, within.CheckCaps())
	within.Query += "q"
	assert.ErrorContains(t, within.CheckCaps(), "query is")
}
