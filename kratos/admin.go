package kratos

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	client "github.com/ory/kratos-client-go"
)

// Admin acts on customers' accounts through the Kratos admin API, which
// must never be reachable by the public: erasing a person deletes their
// account, so that neither their email nor their name lives on in Kratos
// and they can sign up again.
type Admin struct {
	api *client.APIClient
}

// NewAdmin builds a client of the Kratos admin API at adminURL.
func NewAdmin(adminURL string) (*Admin, error) {
	api, err := newAPI("admin", adminURL, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &Admin{api: api}, nil
}

// DeleteAccount deletes a customer's Kratos identity, with its
// credentials, sessions and addresses. An identity Kratos does not know
// (deleted before) counts as deleted.
func (a *Admin) DeleteAccount(ctx context.Context, id uuid.UUID) error {
	resp, err := a.api.IdentityAPI.DeleteIdentity(ctx, id.String()).Execute()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	switch {
	case resp != nil && (resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("delete Kratos identity %s: %w: %w", id, ErrUnavailable, err)
	}
	return fmt.Errorf("delete Kratos identity %s: Kratos answered %d: %w", id, resp.StatusCode, ErrUnavailable)
}
