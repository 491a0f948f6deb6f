package identity

import "github.com/google/uuid"

// profileNamespace scopes profile ids (UUID version 5).
var profileNamespace = uuid.MustParse("5b0d7a3e-2f4c-4e0a-9b1d-6c6f6e2d7072")

// ProfileID is the id of the profile anchored at the record with the given
// key. It depends only on the anchor, not on the order records arrived or
// were resolved in: unrelated records never change it, and the same data
// resolved again gets the same ids.
func ProfileID(anchorKey string) string {
	return uuid.NewSHA1(profileNamespace, []byte(anchorKey)).String()
}
