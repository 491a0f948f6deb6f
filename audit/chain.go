package audit

import "time"

// ChainState is the hash chain as the DPO's console shows it: its head,
// its last signed checkpoint, and the last verification.
type ChainState struct {
	Head            int64
	Checkpoint      *Checkpoint // the last signed one
	SinceCheckpoint int64       // entries after it
	Last            ChainCheck
	Running         bool // a verification is running
}

// ChainCheck is the outcome of a verification of the whole chain.
type ChainCheck struct {
	At     time.Time
	Report VerifyReport
	Err    string // "" when the chain verified
}
