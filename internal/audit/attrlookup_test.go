package audit

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// attrLookup and isContentKey answer as the maps they stand for, for every key of the maps and for near misses.
func TestAttrLookupMatchesMaps(t *testing.T) {
	var keys []string
	for k := range attrIndex {
		keys = append(keys, k, k+"x", k[:len(k)-1], "x"+k, k[:len(k)-1]+"_")
	}
	for k := range ContentKeys {
		keys = append(keys, k, k+"s", k[1:], "Prompt")
	}
	keys = append(keys, "", "a", "audit.", "audit", "audit.record_hash ", "prompt_text")
	for _, k := range keys {
		i, ok := attrLookup.lookup(k)
		wi, wok := attrIndex[k]
		assert.Equal(t, wok, ok, "%q", k)
		assert.Equal(t, wi, i, "%q", k)
		assert.Equal(t, ContentKeys[k], isContentKey(k), "%q", k)
	}
	assert.Len(t, ContentKeys, 3, "isContentKey lists the content keys")
}
