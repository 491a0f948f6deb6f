package vault_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/vault"
)

func x25519Keyring(t testing.TB) *vault.Keyring {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.ParseKeyring(strings.NewReader(id.String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func openVault(t testing.TB, kr *vault.Keyring) (*vault.Vault, []vault.StoredKey) {
	t.Helper()
	keys, err := vault.NewKeys(kr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		keys[i].ID = int32(i + 1) // as the store assigns them
	}
	v, err := vault.Open(kr, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v, keys
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "master.key")
	rcpt, err := vault.GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rcpt, "age1pq1") {
		t.Errorf("recipient %q: want a post-quantum hybrid recipient", vault.ShortRecipient(rcpt))
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if _, err := vault.GenerateKeyFile(path); err == nil {
		t.Fatal("GenerateKeyFile overwrote an existing key")
	}
	kr, err := vault.LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := kr.Recipients(); len(got) != 1 || got[0] != rcpt {
		t.Errorf("recipients %v", got)
	}
	os.Chmod(path, 0o644)
	if _, err := vault.LoadKeyring(path); !errors.Is(err, vault.ErrInsecureKeyFile) {
		t.Errorf("world-readable key file: %v, want ErrInsecureKeyFile", err)
	}
	if _, err := vault.LoadKeyring(filepath.Join(t.TempDir(), "none")); !errors.Is(err, vault.ErrNoKey) {
		t.Errorf("missing key file: %v, want ErrNoKey", err)
	}
}

func TestRecipientsFileAddsEscrow(t *testing.T) {
	dir := t.TempDir()
	master := filepath.Join(dir, "master.key")
	if _, err := vault.GenerateKeyFile(master); err != nil {
		t.Fatal(err)
	}
	escrowID, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	rf := filepath.Join(dir, "recipients.txt")
	os.WriteFile(rf, []byte("# offline escrow\n"+escrowID.Recipient().String()+"\n"), 0o644)
	kr, err := vault.LoadKeyring(master, rf)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(kr.Recipients()); n != 2 {
		t.Fatalf("%d recipients, want master and escrow", n)
	}
	_, keys := openVault(t, kr)
	// The escrow identity alone opens the vault.
	escrow, err := vault.ParseKeyring(strings.NewReader(escrowID.String()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(escrow, keys); err != nil {
		t.Fatalf("escrow key cannot open the vault: %v", err)
	}
}

func TestOpenWithWrongKeyFails(t *testing.T) {
	_, keys := openVault(t, x25519Keyring(t))
	if _, err := vault.Open(x25519Keyring(t), keys); !errors.Is(err, vault.ErrWrongKey) {
		t.Fatalf("Open with another identity: %v, want ErrWrongKey", err)
	}
}

func TestRewrapRotatesTheMasterKeyWithoutTouchingData(t *testing.T) {
	oldKR := x25519Keyring(t)
	v, keys := openVault(t, oldKR)
	sk, err := v.NewSubjectKey(uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sk.Seal(vault.ContextAttributes, []vault.Item{{Tag: 1, Value: []byte("Anna")}})
	if err != nil {
		t.Fatal(err)
	}
	newKR := x25519Keyring(t)
	rewrapped, err := vault.Rewrap(oldKR, newKR, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(oldKR, rewrapped); !errors.Is(err, vault.ErrWrongKey) {
		t.Errorf("old master still opens the rewrapped vault: %v", err)
	}
	v2, err := vault.Open(newKR, rewrapped)
	if err != nil {
		t.Fatal(err)
	}
	// The stored subject key and ciphertext are unchanged and still open.
	sk2, err := v2.OpenSubjectKey(sk.ID, sk.KEK, sk.Wrapped)
	if err != nil {
		t.Fatal(err)
	}
	items, err := sk2.Open(vault.ContextAttributes, sealed, nil)
	if err != nil || string(items[0].Value) != "Anna" {
		t.Fatalf("open after rotation: %v, %v", items, err)
	}
	// The blind index is unchanged too.
	if !bytes.Equal(v.Index().SumString(vault.IndexEmail, "a@example.com"), v2.Index().SumString(vault.IndexEmail, "a@example.com")) {
		t.Error("blind index changed with the master key")
	}
}

func TestSealOpen(t *testing.T) {
	v, _ := openVault(t, x25519Keyring(t))
	sk, err := v.NewSubjectKey(uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	items := []vault.Item{{Tag: 1, Value: []byte("Anna")}, {Tag: 2, Value: []byte("Schmidt")}, {Tag: 6, Value: nil}}
	sealed, err := sk.Seal(vault.ContextAttributes, items)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if len(it.Value) > 0 && bytes.Contains(sealed, it.Value) {
			t.Fatalf("sealed envelope holds %q in plaintext", it.Value)
		}
	}
	all, err := sk.Open(vault.ContextAttributes, sealed, nil)
	if err != nil || len(all) != 3 || string(all[1].Value) != "Schmidt" {
		t.Fatalf("Open all = %v, %v", all, err)
	}
	only, err := sk.Open(vault.ContextAttributes, sealed, func(tag uint8) bool { return tag == 2 })
	if err != nil || len(only) != 1 || only[0].Tag != 2 {
		t.Fatalf("Open tag 2 = %v, %v", only, err)
	}
	if _, err := sk.Seal(vault.ContextAttributes, []vault.Item{{Tag: 1}, {Tag: 1}}); err == nil {
		t.Error("duplicate tags accepted")
	}
}

func TestSealedDataCannotBeMoved(t *testing.T) {
	v, _ := openVault(t, x25519Keyring(t))
	a, _ := v.NewSubjectKey(uuid.New())
	b, _ := v.NewSubjectKey(uuid.New())
	sealed, _ := a.Seal(vault.ContextAttributes, []vault.Item{{Tag: 1, Value: []byte("Anna")}})

	if _, err := b.Open(vault.ContextAttributes, sealed, nil); !errors.Is(err, vault.ErrCorrupt) {
		t.Errorf("another person's key opened the envelope: %v", err)
	}
	if _, err := a.Open(vault.ContextMatch, sealed, nil); !errors.Is(err, vault.ErrCorrupt) {
		t.Errorf("envelope opened in another context: %v", err)
	}
	// Relabel the item as tag 2: authentication must fail.
	moved := bytes.Clone(sealed)
	moved[13] = 2
	if _, err := a.Open(vault.ContextAttributes, moved, nil); !errors.Is(err, vault.ErrCorrupt) {
		t.Errorf("item relabelled to another tag opened: %v", err)
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x40
		if _, err := a.Open(vault.ContextAttributes, tampered, nil); err == nil {
			t.Errorf("flipping byte %d went unnoticed", i)
		}
	}
	// A wrapped key bound to another id does not open.
	if _, err := v.OpenSubjectKey(b.ID, a.KEK, a.Wrapped); !errors.Is(err, vault.ErrCorrupt) {
		t.Errorf("wrapped key opened under another id: %v", err)
	}
}

func TestBlindIndex(t *testing.T) {
	v1, _ := openVault(t, x25519Keyring(t))
	v2, _ := openVault(t, x25519Keyring(t))
	ix := v1.Index()
	a := ix.SumString(vault.IndexEmail, "anna@example.com")
	if len(a) != vault.IndexSize {
		t.Fatalf("index size %d", len(a))
	}
	if !bytes.Equal(a, ix.SumString(vault.IndexEmail, "anna@example.com")) {
		t.Error("blind index not deterministic")
	}
	if bytes.Equal(a, ix.SumString(vault.IndexPhone, "anna@example.com")) {
		t.Error("kinds share a key")
	}
	if bytes.Equal(a, v2.Index().SumString(vault.IndexEmail, "anna@example.com")) {
		t.Error("two vaults give the same index: the index key is not used")
	}
}

func TestSealRecordAndOpenSelectedFields(t *testing.T) {
	v, _ := openVault(t, x25519Keyring(t))
	var r identity.Record
	r.Source, r.SourceID = "sales", "S-1"
	r.Set(identity.GivenName, "Anna")
	r.Set(identity.Email, "anna@example.com")
	r.Set(identity.NationalID, "QQ123456C")
	r.AddExtra("tier", "gold")
	n := identity.Normalizer{DefaultRegion: "GB"}.Normalize(&r.Attributes)
	sk, _ := v.NewSubjectKey(uuid.New())
	s, err := sk.SealRecord(v.Index(), &r, &n)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Fingerprint, v.Index().Fingerprint(&r)) {
		t.Error("fingerprint differs from Index.Fingerprint")
	}
	if !bytes.Equal(s.Email, v.Index().SumString(vault.IndexEmail, "anna@example.com")) || s.Phone != nil {
		t.Error("identifier indexes wrong")
	}
	got, err := sk.OpenRecord(s.Attrs, func(f identity.Field) bool { return f == identity.Email }, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Get(identity.Email) != "anna@example.com" || got.Get(identity.GivenName) != "" || got.Get(identity.NationalID) != "" || got.SourceID != "" {
		t.Errorf("opened more than asked: %+v", got)
	}
	full, err := sk.OpenRecord(s.Attrs, nil, true, true)
	if err != nil || full.SourceID != "S-1" || full.Get(identity.NationalID) != "QQ123456C" || len(full.Extra()) != 1 {
		t.Errorf("OpenRecord all = %+v, %v", full, err)
	}
	m, err := sk.OpenMatch(s.Match)
	if err != nil || !reflect.DeepEqual(m, n) {
		t.Errorf("OpenMatch = %+v, %v", m, err)
	}
	// Any change to the record changes its fingerprint.
	r.Set(identity.GivenName, "Anne")
	if bytes.Equal(s.Fingerprint, v.Index().Fingerprint(&r)) {
		t.Error("fingerprint ignores a changed attribute")
	}
}

func FuzzOpen(f *testing.F) {
	kr := x25519Keyring(f)
	v, _ := openVault(f, kr)
	sk, _ := v.NewSubjectKey(uuid.New())
	good, _ := sk.Seal(vault.ContextAttributes, []vault.Item{{Tag: 1, Value: []byte("x")}})
	f.Add(good)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := sk.Open(vault.ContextAttributes, b, nil)
		if err == nil && !bytes.Equal(b, good) {
			// Only authentic envelopes open; a forgery would be a break.
			for _, it := range items {
				if len(it.Value) > 0 {
					t.Fatalf("forged envelope opened: %x", b)
				}
			}
		}
	})
}

// Example shows the life of a record's data: sealed under its own subject
// key, stored, and opened field by field.
func Example() {
	id, _ := age.GenerateX25519Identity()
	kr, _ := vault.ParseKeyring(strings.NewReader(id.String()))
	keys, _ := vault.NewKeys(kr) // stored in the database, sealed to the master key
	for i := range keys {
		keys[i].ID = int32(i + 1)
	}
	v, _ := vault.Open(kr, keys)

	key, _ := v.NewSubjectKey(uuid.New()) // one per source record; key.Wrapped is stored
	sealed, _ := key.Seal(vault.ContextAttributes, []vault.Item{
		{Tag: 1, Value: []byte("Anna")},
		{Tag: 6, Value: []byte("anna@example.com")},
	})

	stored, _ := v.OpenSubjectKey(key.ID, key.KEK, key.Wrapped)
	items, _ := stored.Open(vault.ContextAttributes, sealed, func(tag uint8) bool { return tag == 6 })
	fmt.Println(string(items[0].Value))
	// Output: anna@example.com
}

// BenchmarkSealRecord is the per-record cost of an import's sealing stage:
// a fresh subject key, one AES-GCM item per attribute, the match keys and
// the blind indexes.
func BenchmarkSealRecord(b *testing.B) {
	v, _ := openVault(b, x25519Keyring(b))
	var r identity.Record
	r.Source, r.SourceID = "sales", "S-000123"
	for _, f := range identity.Fields() {
		r.Set(f, "value of "+f.String())
	}
	r.Set(identity.Email, "anna@example.com")
	n := identity.Normalizer{DefaultRegion: "GB"}.Normalize(&r.Attributes)
	ix := v.Index()
	b.ReportAllocs()
	for b.Loop() {
		k, err := v.NewSubjectKey(uuid.New())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.SealRecord(ix, &r, &n); err != nil {
			b.Fatal(err)
		}
	}
}
