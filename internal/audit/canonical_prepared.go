package audit

// AppendCanonicalPrepared appends the canonical encoding v1 of r to dst, with the JSON columns js given in canonical
// JSON form already (as CanonicalJSON returns them). It lets a verifier canonicalise each distinct stored JSON value
// once (most records share their policy, compliance and metrics columns) instead of once per record; the encoding is
// the one of CanonicalWithJSON.
func (r *Record) AppendCanonicalPrepared(dst []byte, js *StoredJSON) ([]byte, error) {
	return r.appendCanonical(dst, js, true)
}
