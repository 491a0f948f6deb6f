package kratos

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cdp-project/cdp/derrors"
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

// StaffAccount returns the staff account of an email address, creating it
// when there is none: with its address verified and, when password is
// set, that password (development; otherwise the person sets one through
// account recovery). An address with a customer account is refused
// (ErrNotStaff): staff and customers never share an account.
func (a *Admin) StaffAccount(ctx context.Context, email, name, password string) (uuid.UUID, bool, error) {
	found, resp, err := a.api.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(email).Execute()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("find Kratos identity: %w: %w", ErrUnavailable, err)
	}
	for _, id := range found {
		if id.SchemaId != "staff" {
			return uuid.Nil, false, fmt.Errorf("%s has a customer account: a staff account needs an address of its own: %w", email, ErrNotStaff)
		}
		u, err := uuid.Parse(id.Id)
		return u, false, err
	}
	body := client.NewCreateIdentityBody("staff", map[string]any{"email": email, "name": name})
	now := time.Now()
	body.VerifiableAddresses = []client.VerifiableIdentityAddress{{Value: email, Via: "email", Verified: true, Status: "completed", VerifiedAt: &now}}
	if password != "" {
		body.Credentials = &client.IdentityWithCredentials{Password: &client.IdentityWithCredentialsPassword{
			Config: &client.IdentityWithCredentialsPasswordConfig{Password: &password}}}
	}
	created, resp, err := a.api.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*body).Execute()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("create the staff account of %s: %w: %w", email, ErrUnavailable, err)
	}
	u, err := uuid.Parse(created.Id)
	return u, true, err
}

// Email returns the email address of an account ("" when it is gone).
func (a *Admin) Email(ctx context.Context, id uuid.UUID) (string, error) {
	i, resp, err := a.api.IdentityAPI.GetIdentity(ctx, id.String()).Execute()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("Kratos identity %s: %w: %w", id, ErrUnavailable, err)
	}
	traits, _ := i.Traits.(map[string]any)
	email, _ := traits["email"].(string)
	return email, nil
}

// ErrNotStaff reports an address whose Kratos account is a customer's.
var ErrNotStaff = derrors.New(derrors.ErrConflict, "not a staff account")
