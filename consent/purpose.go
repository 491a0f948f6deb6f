// Package consent owns what personal data may be used for: the catalogue
// of purposes with their legal bases (GDPR Art. 6(1)), and the state of a
// person's consent or objection per purpose.
//
// A purpose says why data is processed (support, billing, marketing...),
// on which legal basis, whether it needs the person's consent, whether the
// person may object to it (Art. 21), what state applies when the person
// said nothing, and how long data kept for it is retained.
//
// consent imports the standard library and derrors only.
package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cdp-project/cdp/derrors"
)

// Sentinel errors.
var (
	// ErrInvalid reports a purpose, notice or consent value that is not
	// valid.
	ErrInvalid = derrors.New(derrors.ErrInvalid, "invalid consent data")
	// ErrNotApplicable reports a statement that does not apply to the
	// purpose: a grant for a purpose that does not rest on consent, an
	// objection to one that allows none.
	ErrNotApplicable = derrors.New(derrors.ErrUnprocessable, "not applicable to this purpose")
	// ErrUnknownPurpose reports a purpose that is not in the catalogue.
	ErrUnknownPurpose = derrors.New(derrors.ErrNotFound, "unknown purpose")
	// ErrUnknownNotice reports a notice version that does not exist or is
	// not the one in effect.
	ErrUnknownNotice = derrors.New(derrors.ErrUnprocessable, "unknown or superseded notice")
)

// LegalBasis is a lawful basis of processing, GDPR Art. 6(1)(a)-(f).
type LegalBasis string

// The legal bases.
const (
	BasisConsent             LegalBasis = "consent"              // (a)
	BasisContract            LegalBasis = "contract"             // (b)
	BasisLegalObligation     LegalBasis = "legal_obligation"     // (c)
	BasisVitalInterests      LegalBasis = "vital_interests"      // (d)
	BasisPublicTask          LegalBasis = "public_task"          // (e)
	BasisLegitimateInterests LegalBasis = "legitimate_interests" // (f)
)

// LegalBases lists every legal basis in the order of Art. 6(1).
func LegalBases() []LegalBasis {
	return []LegalBasis{BasisConsent, BasisContract, BasisLegalObligation, BasisVitalInterests, BasisPublicTask, BasisLegitimateInterests}
}

// ParseLegalBasis parses a legal basis name.
func ParseLegalBasis(s string) (LegalBasis, error) {
	for _, b := range LegalBases() {
		if string(b) == s {
			return b, nil
		}
	}
	return "", fmt.Errorf("legal basis %q: want one of consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests: %w", s, ErrInvalid)
}

// State is a person's position on one purpose.
type State string

// The states. Granted and Denied are what a person can say; Withdrawn is a
// grant taken back; Objected is an objection (Art. 21) to a purpose that
// does not rest on consent; Expired is a grant whose expiry passed.
const (
	Granted   State = "granted"
	Denied    State = "denied"
	Withdrawn State = "withdrawn"
	Objected  State = "objected"
	Expired   State = "expired"
)

// Refuses reports a statement that takes a grant back or objects.
func (s State) Refuses() bool { return s == Withdrawn || s == Objected }

// Purpose is one entry of the catalogue.
type Purpose struct {
	ID          string     `json:"id"`
	Description string     `json:"description"`
	LegalBasis  LegalBasis `json:"legal_basis"`
	// RequiresConsent: data is used for the purpose only while the person's
	// consent is granted. True exactly when the legal basis is consent.
	RequiresConsent bool `json:"requires_consent"`
	// AllowsObjection: the person may object (Art. 21), which stops the
	// processing.
	AllowsObjection bool `json:"allows_objection"`
	// DefaultState applies while the person has said nothing: denied for
	// consent purposes, granted for the others.
	DefaultState State `json:"default_state"`
	// RetentionDays is how long data kept for the purpose is retained.
	RetentionDays int `json:"retention_days"`
	// Sharing marks a purpose that sells or shares data with third
	// parties: a Global Privacy Control signal objects to it.
	Sharing bool `json:"sharing"`
	// Departments are the only departments whose staff may declare the
	// purpose, as the DPO named them (empty: any department whose role
	// allows it). The DPO may declare any purpose.
	Departments []string  `json:"departments"`
	CreatedAt   time.Time `json:"created_at"`
}

var purposeID = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)

// SelfService is the purpose under which customers read their own data;
// it is not in the catalogue, and staff cannot declare it.
const SelfService = "self_service"

// Validate checks a purpose and fills in what follows from its legal basis.
func (p *Purpose) Validate() error {
	if !purposeID.MatchString(p.ID) {
		return fmt.Errorf("purpose id %q: 2 to 63 lower-case letters, digits and '_', starting with a letter: %w", p.ID, ErrInvalid)
	}
	if p.ID == SelfService {
		return fmt.Errorf("purpose id %q is reserved for customers reading their own data: %w", p.ID, ErrInvalid)
	}
	if p.Description == "" || len(p.Description) > 2000 {
		return fmt.Errorf("purpose %s: a description of 1 to 2000 bytes is required: %w", p.ID, ErrInvalid)
	}
	if _, err := ParseLegalBasis(string(p.LegalBasis)); err != nil {
		return fmt.Errorf("purpose %s: %w", p.ID, err)
	}
	p.RequiresConsent = p.LegalBasis == BasisConsent
	switch {
	case p.RequiresConsent:
		// Consent can always be withdrawn; an objection adds nothing.
		p.AllowsObjection = false
		p.DefaultState = Denied
	default:
		p.DefaultState = Granted
	}
	if p.RetentionDays <= 0 || p.RetentionDays > 100*366 {
		return fmt.Errorf("purpose %s: retention_days must be between 1 and 36600: %w", p.ID, ErrInvalid)
	}
	return nil
}

// Notice is one published version of the privacy notice of a purpose: the
// exact text a person was shown. Versions are never edited; a new text is
// a new version.
type Notice struct {
	Purpose     string    `json:"purpose"`
	Version     int       `json:"version"`
	Text        string    `json:"text"`
	SHA256      string    `json:"sha256"` // hex of the text's SHA-256
	EffectiveAt time.Time `json:"effective_at"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
}

// MaxNoticeBytes bounds a notice's text.
const MaxNoticeBytes = 64 << 10

// NewNotice validates a notice text and fills in its hash.
func NewNotice(purpose, text string, effective time.Time, by string) (Notice, error) {
	if strings.TrimSpace(text) == "" || len(text) > MaxNoticeBytes || !utf8.ValidString(text) {
		return Notice{}, fmt.Errorf("notice text: 1 to %d bytes of UTF-8: %w", MaxNoticeBytes, ErrInvalid)
	}
	sum := sha256.Sum256([]byte(text))
	return Notice{Purpose: purpose, Text: text, SHA256: hex.EncodeToString(sum[:]), EffectiveAt: effective.UTC(), PublishedBy: by}, nil
}
