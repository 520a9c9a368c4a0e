-- Checkpoints list the sequence numbers whose delivery the pipeline refused after chaining them (never stored; the
-- client retries and they are chained again), in the signed text form "3-5,9"; '' when none.
ALTER TABLE {{.checkpoints}} ADD COLUMN withdrawn text NOT NULL DEFAULT '';
