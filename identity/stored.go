package identity

import (
	"time"

	"github.com/google/uuid"
)

// StoredRecord is a source record as stored: sealed under its own key.
type StoredRecord struct {
	ID        uuid.UUID
	Source    string
	KEK       int32
	Wrapped   []byte
	Attrs     []byte
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
	// Restriction is why processing of the record is restricted
	// ("restriction": Art. 18; "legal_hold": kept after an erasure), or "".
	Restriction string
}
