package audit

// attrTable finds the entry of an audit.* attribute without hashing the whole key (a map lookup hashes every byte;
// LogHasher and FromLogRecord look up every audit.* attribute of every record): a key's bucket is picked by its
// length and two of its bytes, then compared in full.
type attrTable struct {
	buckets [attrBuckets][]attrSlot
}

type attrSlot struct {
	key string
	i   uint8
}

const attrBuckets = 128

func attrBucket(k string) int {
	n := len(k)
	if n <= len(AttrPrefix) {
		return n & (attrBuckets - 1)
	}
	return (n*31 + int(k[len(AttrPrefix)])*7 + int(k[n-1])) & (attrBuckets - 1)
}

func attrTableOf(idx map[string]uint8) *attrTable {
	t := &attrTable{}
	for k, i := range idx {
		b := attrBucket(k)
		t.buckets[b] = append(t.buckets[b], attrSlot{key: k, i: i})
	}
	return t
}

// lookup is attrIndex[k].
func (t *attrTable) lookup(k string) (uint8, bool) {
	for _, s := range t.buckets[attrBucket(k)] {
		if s.key == k {
			return s.i, true
		}
	}
	return 0, false
}

// attrLookup finds audit.* attributes (attrIndex, faster).
var attrLookup = attrTableOf(attrIndex)

// isContentKey is ContentKeys[k] without the map lookup (LogHasher asks for every attribute of every record).
func isContentKey(k string) bool {
	switch k {
	case "prompt", "prompt_text", "response":
		return true
	}
	return false
}
