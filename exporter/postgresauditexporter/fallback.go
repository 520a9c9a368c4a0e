package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// fallbackFile is the JSONL spill file used while Postgres is unreachable. Appends are fsync'd before they are
// acknowledged. A replay first renames the file to <path>.replaying (atomic), so spills continue into a fresh file
// while the old one is written to Postgres; a replay cut short rewrites .replaying with what is left (temp file +
// rename), a complete one removes it. Both files count towards MaxBytes and the depth.
type fallbackFile struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	f        *os.File
	bytes    int64 // both files
	records  int64 // both files
}

func replayingPath(path string) string { return path + ".replaying" }

func openFallback(path string, maxBytes int64) (*fallbackFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("fallback directory: %w", err)
	}
	fb := &fallbackFile{path: path, maxBytes: maxBytes}
	for _, p := range []string{path, replayingPath(path)} {
		n, size, err := countLines(p)
		if err != nil {
			return nil, err
		}
		fb.records += n
		fb.bytes += size
	}
	if err := fb.openLocked(); err != nil {
		return nil, err
	}
	return fb, nil
}

// openLocked opens the spill file for appending. A file not ending in a newline (a crash mid-append) gets one, so the
// torn line stays alone and is dead-lettered at replay instead of corrupting the next record.
func (fb *fallbackFile) openLocked() error {
	f, err := os.OpenFile(fb.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("fallback file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return err
			}
			fb.bytes++
		}
	}
	fb.f = f
	return nil
}

// errFallbackFull is returned (wrapped with the figures) when a spill would exceed max_bytes.
var errFallbackFull = errors.New("postgresaudit fallback file is full")

// checkpointLine is how a checkpoint is spilled (a record line is the bare audit.Record).
type checkpointLine struct {
	Kind       string                `json:"kind"`
	Checkpoint *integrity.Checkpoint `json:"checkpoint"`
}

var checkpointLinePrefix = []byte(`{"kind":"checkpoint"`)

// append writes the records and checkpoints as JSON lines and fsyncs.
func (fb *fallbackFile) append(recs []audit.Record, cps []integrity.Checkpoint) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("encoding record %s for the fallback file: %w", recs[i].ID, err)
		}
	}
	for i := range cps {
		if err := enc.Encode(checkpointLine{Kind: integrity.KindCheckpoint, Checkpoint: &cps[i]}); err != nil {
			return err
		}
	}
	n := len(recs) + len(cps)
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.bytes+int64(buf.Len()) > fb.maxBytes {
		return fmt.Errorf("%w: %s holds %d bytes, %d more would exceed fallback.max_bytes %d; %d records not spilled",
			errFallbackFull, fb.path, fb.bytes, buf.Len(), fb.maxBytes, n)
	}
	if fb.f == nil {
		return errors.New("postgresaudit fallback file is closed")
	}
	if _, err := fb.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing fallback file %s: %w", fb.path, err)
	}
	if err := fb.f.Sync(); err != nil {
		return fmt.Errorf("syncing fallback file %s: %w", fb.path, err)
	}
	fb.bytes += int64(buf.Len())
	fb.records += int64(n)
	return nil
}

// depth is the number of records waiting for replay.
func (fb *fallbackFile) depth() int64 {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.records
}

// beginReplay returns the file to replay: an unfinished .replaying file, else the spill file renamed to it; "" when
// there is nothing to replay.
func (fb *fallbackFile) beginReplay() (string, error) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	rp := replayingPath(fb.path)
	if _, err := os.Stat(rp); err == nil {
		return rp, nil
	}
	st, err := fb.f.Stat()
	if err != nil || st.Size() == 0 {
		return "", err
	}
	if err := fb.f.Close(); err != nil {
		return "", err
	}
	fb.f = nil
	if err := os.Rename(fb.path, rp); err != nil {
		_ = fb.openLocked()
		return "", err
	}
	syncDir(fb.path)
	return rp, fb.openLocked()
}

// finishReplay records the outcome: remaining holds the encoded lines not yet stored (nil when all were). The
// .replaying file is removed, or atomically replaced by the remaining lines.
func (fb *fallbackFile) finishReplay(rp string, doneRecords, doneBytes int64, remaining []byte) error {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	var err error
	if len(remaining) == 0 {
		err = os.Remove(rp)
	} else {
		err = writeFileAtomic(rp, remaining)
	}
	if err != nil {
		return err
	}
	syncDir(rp)
	fb.records -= doneRecords
	fb.bytes -= doneBytes
	if fb.records < 0 || fb.bytes < 0 {
		fb.records, fb.bytes = 0, 0
	}
	return nil
}

// finishReplayWith ends a replay cut short by cause, keeping the remaining lines.
func (fb *fallbackFile) finishReplayWith(rp string, doneRecords, doneBytes int64, remaining []byte, cause error) error {
	if err := fb.finishReplay(rp, doneRecords, doneBytes, remaining); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (fb *fallbackFile) close() error {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.f == nil {
		return nil
	}
	err := fb.f.Close()
	fb.f = nil
	return err
}

// deadLetterFile receives records that can never be stored, one JSON object per line:
// {"time", "reason", "error", "record"} where record is the audit record (with every value over its cap withheld, see
// withholdOversize), the checkpoint, or the raw log record or fallback line when it could not be read as one. Errors
// carry the Postgres code and message, or the column and sizes, never row values.
type deadLetterFile struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	size     int64
}

func openDeadLetter(path string, maxBytes int64) (*deadLetterFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("dead-letter directory: %w", err)
	}
	d := &deadLetterFile{path: path, maxBytes: maxBytes}
	if st, err := os.Stat(path); err == nil {
		d.size = st.Size()
	}
	return d, nil
}

type deadLetter struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
	Error  string    `json:"error"`
	Record any       `json:"record"`
}

func (d *deadLetterFile) add(entries []deadLetter) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range entries {
		if err := enc.Encode(&entries[i]); err != nil {
			// A record JSON cannot hold (e.g. a timestamp outside years 0-9999) is still dead-lettered: by its ids.
			entry := entries[i]
			entry.Record = unencodable(entry.Record, err)
			if err := enc.Encode(&entry); err != nil {
				return err
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.size+int64(buf.Len()) > d.maxBytes {
		return fmt.Errorf("dead-letter file %s is full (%d bytes, fallback.dead_letter_max_bytes %d); %d records lost",
			d.path, d.size, d.maxBytes, len(entries))
	}
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		return err
	}
	d.size += int64(buf.Len())
	return f.Sync()
}

// unencodable stands for a dead-letter record that could not be encoded as JSON: its ids, and why.
func unencodable(rec any, err error) map[string]any {
	out := map[string]any{"unencodable": err.Error()}
	if r, ok := rec.(audit.Record); ok {
		out["id"], out["decision_id"], out["tenant_id"] = r.ID, r.DecisionID, r.TenantID
	}
	return out
}

// decodeLine reads one fallback line: a record, or a checkpoint.
func decodeLine(line []byte) (audit.Record, *integrity.Checkpoint, error) {
	if bytes.HasPrefix(line, checkpointLinePrefix) {
		var cl checkpointLine
		if err := json.Unmarshal(line, &cl); err != nil || cl.Checkpoint == nil {
			return audit.Record{}, nil, errors.New("bad checkpoint line")
		}
		return audit.Record{}, cl.Checkpoint, nil
	}
	r, err := decodeRecord(line)
	return r, nil, err
}

// decodeRecord reads one fallback record line.
func decodeRecord(line []byte) (audit.Record, error) {
	var r audit.Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber() // metadata numbers keep their exact text
	if err := dec.Decode(&r); err != nil {
		return audit.Record{}, err
	}
	return r, r.Validate()
}

func countLines(path string) (n, size int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	content := false
	for {
		k, err := f.Read(buf)
		size += int64(k)
		for _, c := range buf[:k] {
			switch c {
			case '\n':
				if content {
					n++
				}
				content = false
			case ' ', '\t', '\r':
			default:
				content = true
			}
		}
		if err == io.EOF {
			if content {
				n++
			}
			return n, size, nil
		}
		if err != nil {
			return n, size, err
		}
	}
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// syncDir makes a rename or removal in path's directory durable.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
