package identity

// texts is a list of strings kept in a few large ones: at ten million
// records, the entries' keys as strings of their own took 0.64 GB (a
// 16-byte header and a 48-byte allocation for a 36-byte record id) where
// their bytes and ends take 0.4 GB, and ten million empty profiles took
// 160 MB of headers where their ends take 40 MB.
//
// Texts are packed textsPerBlock to a string; the last block is built in
// a byte slice until it is full, and copied to a string by seal. Reading a
// text of a full or sealed block allocates nothing.
type texts struct {
	blocks  []string
	pending []byte
	sealed  string   // a copy of pending as of the last seal
	end     []uint32 // end[i]: where text i ends in its block
}

const textsPerBlock = 1 << 12

// grow makes room for n more texts.
func (t *texts) grow(n int) {
	if cap(t.end)-len(t.end) < n {
		end := make([]uint32, len(t.end), len(t.end)+n)
		copy(end, t.end)
		t.end = end
	}
}

// add appends s.
func (t *texts) add(s string) {
	t.pending = append(t.pending, s...)
	t.end = append(t.end, uint32(len(t.pending)))
	if len(t.end)%textsPerBlock == 0 {
		t.blocks = append(t.blocks, string(t.pending))
		t.pending, t.sealed = t.pending[:0], ""
	}
}

// len returns the number of texts.
func (t *texts) len() int { return len(t.end) }

// at returns text i.
func (t *texts) at(i int) string {
	lo := uint32(0)
	if i%textsPerBlock > 0 {
		lo = t.end[i-1]
	}
	if b := i / textsPerBlock; b < len(t.blocks) {
		return t.blocks[b][lo:t.end[i]]
	}
	if int(t.end[i]) <= len(t.sealed) {
		return t.sealed[lo:t.end[i]]
	}
	return string(t.pending[lo:t.end[i]])
}

// seal makes reading the texts added so far allocate nothing (a run of
// fewer than textsPerBlock records has all of them in the last block).
func (t *texts) seal() {
	if len(t.sealed) != len(t.pending) {
		t.sealed = string(t.pending)
	}
}
