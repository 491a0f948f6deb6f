package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// Sentinel errors of the vault.
var (
	// ErrNoKey reports that a key file or a key is missing.
	ErrNoKey = errors.New("key not found")
	// ErrWrongKey reports that the available identities cannot open a key.
	ErrWrongKey = errors.New("key cannot be opened with the available identities")
	// ErrCorrupt reports a ciphertext or key that fails authentication or
	// does not parse.
	ErrCorrupt = errors.New("ciphertext corrupt or tampered with")
	// ErrInsecureKeyFile reports a key file readable by other users.
	ErrInsecureKeyFile = errors.New("key file is readable by other users")
)

// Keyring holds the master age identities and the recipients that vault keys
// are sealed to: the identities' own recipients plus any extra recipients (an
// offline escrow key, the next master key during a rotation).
type Keyring struct {
	identities []age.Identity
	recipients []age.Recipient
	names      []string // recipient strings, for display
}

// LoadKeyring reads a key file of age identities (one per line, # comments
// allowed) and optional files of extra age recipients. The key file must not
// be readable by group or others.
func LoadKeyring(keyFile string, recipientFiles ...string) (*Keyring, error) {
	info, err := os.Stat(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key file %s: %w (create one with `cdp keys generate`)", keyFile, ErrNoKey)
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %v (want 0600): %w", keyFile, info.Mode().Perm(), ErrInsecureKeyFile)
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	kr, err := ParseKeyring(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", keyFile, err)
	}
	for _, rf := range recipientFiles {
		if rf == "" {
			continue
		}
		f, err := os.Open(rf)
		if err != nil {
			return nil, fmt.Errorf("recipients file: %w", err)
		}
		err = kr.addRecipients(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("recipients file %s: %w", rf, err)
		}
	}
	return kr, nil
}

// ParseKeyring reads age identities in the key file format.
func ParseKeyring(r io.Reader) (*Keyring, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("parse identities: %w", err)
	}
	kr := &Keyring{identities: ids}
	for _, id := range ids {
		switch id := id.(type) {
		case *age.HybridIdentity:
			kr.addRecipient(id.Recipient(), id.Recipient().String())
		case *age.X25519Identity:
			kr.addRecipient(id.Recipient(), id.Recipient().String())
		default:
			return nil, fmt.Errorf("unsupported identity type %T", id)
		}
	}
	return kr, nil
}

func (kr *Keyring) addRecipients(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rs, err := age.ParseRecipients(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("parse recipients: %w", err)
	}
	for _, rc := range rs {
		name := fmt.Sprint(rc)
		if s, ok := rc.(fmt.Stringer); ok {
			name = s.String()
		}
		kr.addRecipient(rc, name)
	}
	return nil
}

func (kr *Keyring) addRecipient(r age.Recipient, name string) {
	for _, n := range kr.names {
		if n == name {
			return
		}
	}
	kr.recipients = append(kr.recipients, r)
	kr.names = append(kr.names, name)
}

// Recipients returns the age recipients vault keys are sealed to.
func (kr *Keyring) Recipients() []string { return append([]string(nil), kr.names...) }

// seal encrypts a vault key with age to every recipient.
func (kr *Keyring) seal(key []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, kr.recipients...)
	if err != nil {
		return nil, fmt.Errorf("age encrypt: %w", err)
	}
	if _, err := w.Write(key); err != nil {
		return nil, fmt.Errorf("age encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("age encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// open decrypts a vault key sealed with seal.
func (kr *Keyring) open(sealed []byte) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), kr.identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrWrongKey
		}
		return nil, fmt.Errorf("age decrypt: %w: %w", ErrCorrupt, err)
	}
	key, err := io.ReadAll(io.LimitReader(r, 1024))
	if err != nil {
		return nil, fmt.Errorf("age decrypt: %w: %w", ErrCorrupt, err)
	}
	return key, nil
}

// GenerateKeyFile creates a new key file holding one fresh post-quantum
// hybrid age identity (ML-KEM-768 + X25519), readable only by its owner. It
// refuses to overwrite an existing file. It returns the public recipient.
func GenerateKeyFile(path string) (recipient string, err error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return "", fmt.Errorf("generate identity: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create key file: %w", err)
	}
	rcpt := id.Recipient().String()
	_, err = fmt.Fprintf(f, "# cdp master key, created %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), rcpt, id.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write key file: %w", err)
	}
	return rcpt, nil
}

// ShortRecipient abbreviates a (long, post-quantum) recipient for display.
func ShortRecipient(r string) string {
	if len(r) <= 24 {
		return r
	}
	return r[:14] + "…" + r[len(r)-8:]
}
