package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/postgres"
)

// ensureDevAuditKey creates a development audit signing key when none
// exists.
func ensureDevAuditKey(cl *cli, cfg *Config) error {
	if _, err := os.Stat(cfg.auditKeyFile()); err == nil {
		return nil
	}
	pub, err := audit.GenerateKeyFile(cfg.auditKeyFile())
	if err != nil {
		return err
	}
	fmt.Fprintf(cl.stdout, "created a development audit signing key at %s (key id %s)\n", cfg.auditKeyFile(), audit.KeyID(pub))
	return nil
}

func auditKeygenCommand() command {
	return command{
		name:    "audit keygen",
		summary: "Create the ed25519 key that signs audit checkpoints, readable only by its owner, and print its public key for auditors. It refuses to overwrite a key.",
		groups:  []string{"keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				pub, err := audit.GenerateKeyFile(cfg.auditKeyFile())
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stderr, "wrote %s (key id %s); its public key:\n", cfg.auditKeyFile(), audit.KeyID(pub))
				_, err = cl.stdout.Write(audit.MarshalPublicKey(pub))
				return err
			}
		},
	}
}

func auditKeyCommand() command {
	return command{
		name:    "audit key",
		summary: "Print the public key of the audit signing key (PEM), for auditors to verify checkpoints with.",
		groups:  []string{"keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				key, err := audit.LoadKey(cfg.auditKeyFile())
				if err != nil {
					return err
				}
				_, err = cl.stdout.Write(audit.MarshalPublicKey(key.Public().(ed25519.PublicKey)))
				return err
			}
		},
	}
}

func auditVerifyCommand() command {
	return command{
		name: "audit verify",
		summary: "Walk the audit log's hash chain and check it against the signed checkpoints. " +
			"It exits 1 naming the first broken entry if any entry was changed, deleted, reordered or inserted by hand. " +
			"With --from, it verifies the range after a signed checkpoint, trusting only the public key.",
		groups: []string{"db", "keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			pubFile := fs.String("public-key", "", "PEM public key the checkpoints must be signed with (default: that of the audit key file)")
			from := fs.Int64("from", 0, "verify from the signed checkpoint at this entry on (0: the whole chain)")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				pub, err := verifyKey(cfg, *pubFile)
				if err != nil {
					return err
				}
				rep, err := verifyAudit(ctx, db, pub, *from)
				if err != nil {
					return err
				}
				out := struct {
					audit.VerifyReport
					From  int64  `json:"from"`
					KeyID string `json:"key_id"`
					OK    bool   `json:"ok"`
				}{rep, *from, audit.KeyID(pub), true}
				enc := json.NewEncoder(cl.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			})
		},
	}
}

func verifyKey(cfg *Config, pubFile string) (ed25519.PublicKey, error) {
	if pubFile != "" {
		data, err := os.ReadFile(pubFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", audit.ErrKey, err)
		}
		return audit.ParsePublicKey(data)
	}
	key, err := audit.LoadKey(cfg.auditKeyFile())
	if err != nil {
		return nil, fmt.Errorf("%w (give the auditor's copy with --public-key)", err)
	}
	return key.Public().(ed25519.PublicKey), nil
}

// verifyAudit checks the chain, whole or from a signed checkpoint.
func verifyAudit(ctx context.Context, db *postgres.DB, pub ed25519.PublicKey, from int64) (audit.VerifyReport, error) {
	cps, err := db.AuditCheckpoints(ctx)
	if err != nil {
		return audit.VerifyReport{}, err
	}
	var v *audit.Verifier
	if from == 0 {
		v, err = audit.NewVerifier(pub, cps)
	} else {
		var start *audit.Checkpoint
		var later []audit.Checkpoint
		for i := range cps {
			switch {
			case cps[i].Seq == from:
				start = &cps[i]
			case cps[i].Seq > from:
				later = append(later, cps[i])
			}
		}
		if start == nil {
			return audit.VerifyReport{}, fmt.Errorf("no checkpoint at entry %d: %w", from, audit.ErrBroken)
		}
		v, err = audit.NewRangeVerifier(pub, *start, later)
	}
	if err != nil {
		return audit.VerifyReport{}, err
	}
	return db.VerifyAudit(ctx, v, from)
}
