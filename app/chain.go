package app

import (
	"context"
	"crypto/ed25519"
	"sync"
	"time"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/postgres"
)

// Chain is the audit log's hash chain as the DPO's console shows it: its
// head, its last signed checkpoint, and a verification run in the
// background (the same walk as `cdp audit verify`), one at a time.
type Chain struct {
	db  *postgres.DB
	pub ed25519.PublicKey

	mu      sync.Mutex
	running bool
	last    audit.ChainCheck
}

// State reads the chain's head and last checkpoint.
func (c *Chain) State(ctx context.Context) (audit.ChainState, error) {
	head, err := c.db.AuditHead(ctx)
	if err != nil {
		return audit.ChainState{}, err
	}
	cps, err := c.db.AuditCheckpoints(ctx)
	if err != nil {
		return audit.ChainState{}, err
	}
	st := audit.ChainState{Head: head.Seq}
	if len(cps) > 0 {
		cp := cps[len(cps)-1]
		st.Checkpoint, st.SinceCheckpoint = &cp, head.Seq-cp.Seq
	}
	c.mu.Lock()
	st.Last, st.Running = c.last, c.running
	c.mu.Unlock()
	return st, nil
}

// Verify starts a verification of the whole chain in the background,
// unless one runs; State shows its outcome.
func (c *Chain) Verify() {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return
	}
	c.running = true
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		check := audit.ChainCheck{At: time.Now().UTC()}
		cps, err := c.db.AuditCheckpoints(ctx)
		if err == nil {
			var v *audit.Verifier
			if v, err = audit.NewVerifier(c.pub, cps); err == nil {
				check.Report, err = c.db.VerifyAudit(ctx, v, 0)
			}
		}
		if err != nil {
			check.Err = err.Error()
		}
		c.mu.Lock()
		c.last, c.running = check, false
		c.mu.Unlock()
	}()
}
