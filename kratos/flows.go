package kratos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	client "github.com/ory/kratos-client-go"
)

// Flow kinds: the self-service browser flows cdp's pages render.
const (
	Login        = "login"
	Registration = "registration"
	Recovery     = "recovery"
	Verification = "verification"
	Settings     = "settings"
)

// Flow is a Kratos self-service browser flow as a page renders it: a
// form posted by the browser straight to Kratos (Action, Method), its
// messages and its nodes in Kratos's order.
type Flow struct {
	Kind     string
	ID       string
	State    string // recovery, verification, settings: choose_method, sent_email, passed_challenge, success
	Action   string
	Method   string
	Messages []Text
	Nodes    []Node
	// RequestedAAL is, for a login, "aal2" when it asks for the second
	// factor; Refresh when it re-authenticates a signed-in person.
	RequestedAAL string
	Refresh      bool
	ReturnTo     string
}

// Text is a message of Kratos: a stable id (text/id.go of Kratos), the
// English text and the values it names. Pages translate by id.
type Text struct {
	ID      int64
	Text    string
	Type    string // info, error, success
	Context map[string]any
}

// Node is one element of a flow's form.
type Node struct {
	Group string // default, password, profile, code, totp, lookup_secret...
	Type  string // input, text, img, a (scripts are left out: the pages need none)
	// Inputs.
	Name         string
	InputType    string // text, email, password, hidden, submit, checkbox...
	Value        string
	Required     bool
	Disabled     bool
	Autocomplete string
	Pattern      string
	MaxLength    int64
	Label        *Text
	Messages     []Text
	// Texts, images (the TOTP QR code as a data URL) and anchors.
	ElementID     string
	Text          *Text
	Src           string
	Width, Height int64
	Href          string
}

// Redirect reports a flow that cannot be shown as it is: expired,
// unknown, its CSRF cookie missing, or asking for a second factor or a
// login first. The page sends the browser to URL, which starts anew.
type Redirect struct{ URL string }

func (r *Redirect) Error() string { return "the flow continues at " + r.URL }

// BrowserURL is where a browser starts a flow: Kratos creates it and
// sends the browser back to cdp's page with ?flow=. returnTo (optional)
// is where Kratos sends the browser when it is done; aal "aal2" asks a
// login for the second factor.
func (c *Client) BrowserURL(kind, returnTo, aal string) string {
	q := url.Values{}
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	if aal != "" {
		q.Set("aal", aal)
	}
	u := c.public + "/self-service/" + kind + "/browser"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Flow fetches a browser flow for the page that renders it. cookie is the
// browser's whole Cookie header: Kratos checks its CSRF cookie on the
// fetch too.
func (c *Client) Flow(ctx context.Context, kind, id, cookie string) (*Flow, error) {
	api := c.api.FrontendAPI
	var (
		ui    client.UiContainer
		state any
		resp  *http.Response
		err   error
		f     = &Flow{Kind: kind, ID: id}
	)
	switch kind {
	case Login:
		var lf *client.LoginFlow
		if lf, resp, err = api.GetLoginFlow(ctx).Id(id).Cookie(cookie).Execute(); err == nil {
			ui, state = lf.Ui, lf.State
			if lf.RequestedAal != nil {
				f.RequestedAAL = string(*lf.RequestedAal)
			}
			f.Refresh, f.ReturnTo = lf.GetRefresh(), lf.GetReturnTo()
		}
	case Registration:
		var rf *client.RegistrationFlow
		if rf, resp, err = api.GetRegistrationFlow(ctx).Id(id).Cookie(cookie).Execute(); err == nil {
			ui, state, f.ReturnTo = rf.Ui, rf.State, rf.GetReturnTo()
		}
	case Recovery:
		var rf *client.RecoveryFlow
		if rf, resp, err = api.GetRecoveryFlow(ctx).Id(id).Cookie(cookie).Execute(); err == nil {
			ui, state, f.ReturnTo = rf.Ui, rf.State, rf.GetReturnTo()
		}
	case Verification:
		var vf *client.VerificationFlow
		if vf, resp, err = api.GetVerificationFlow(ctx).Id(id).Cookie(cookie).Execute(); err == nil {
			ui, state, f.ReturnTo = vf.Ui, vf.State, vf.GetReturnTo()
		}
	case Settings:
		var sf *client.SettingsFlow
		if sf, resp, err = api.GetSettingsFlow(ctx).Id(id).Cookie(cookie).Execute(); err == nil {
			ui, state, f.ReturnTo = sf.Ui, sf.State, sf.GetReturnTo()
		}
	default:
		return nil, fmt.Errorf("unknown flow kind %q", kind)
	}
	if resp != nil && resp.Body != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, c.flowError(kind, resp, err)
	}
	if state != nil {
		f.State = fmt.Sprint(state)
	}
	f.Action, f.Method = ui.Action, ui.Method
	f.Messages = texts(ui.Messages)
	for _, n := range ui.Nodes {
		if node, ok := convert(n); ok {
			f.Nodes = append(f.Nodes, node)
		}
	}
	return f, nil
}

// flowError turns a failed fetch into where the browser goes next: a new
// flow (unknown, expired, CSRF cookie missing), the second factor, or a
// login first; a Kratos that does not answer is ErrUnavailable.
func (c *Client) flowError(kind string, resp *http.Response, err error) error {
	if resp == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var body struct {
		Error struct {
			ID      string         `json:"id"`
			Details map[string]any `json:"details"`
		} `json:"error"`
		RedirectBrowserTo string `json:"redirect_browser_to"`
	}
	var ge *client.GenericOpenAPIError
	if errors.As(err, &ge) {
		_ = json.Unmarshal(ge.Body(), &body)
	} else if resp.Body != nil {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		_ = json.Unmarshal(raw, &body)
	}
	detail := func(k string) string { s, _ := body.Error.Details[k].(string); return s }
	switch {
	case resp.StatusCode == http.StatusGone && detail("redirect_to") != "":
		return &Redirect{URL: detail("redirect_to")}
	case body.RedirectBrowserTo != "":
		return &Redirect{URL: body.RedirectBrowserTo}
	case detail("redirect_browser_to") != "":
		return &Redirect{URL: detail("redirect_browser_to")}
	case resp.StatusCode == http.StatusUnauthorized:
		return &Redirect{URL: c.BrowserURL(Login, "", "")}
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusGone:
		return &Redirect{URL: c.BrowserURL(kind, "", "")}
	}
	return fmt.Errorf("%w: flow %s: %d", ErrUnavailable, kind, resp.StatusCode)
}

// FlowError is the error Kratos forwarded the browser to (its flow error
// UI): an id, a message and a reason, all Kratos's own text.
type FlowError struct {
	Code    int
	ID      string
	Message string
	Reason  string
}

// Error fetches a flow error by id.
func (c *Client) Error(ctx context.Context, id string) (*FlowError, error) {
	fe, resp, err := c.api.FrontendAPI.GetFlowError(ctx).Id(id).Execute()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return &FlowError{Code: http.StatusNotFound, Message: "unknown error"}, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := &FlowError{}
	if code, ok := fe.Error["code"].(float64); ok {
		out.Code = int(code)
	}
	out.ID, _ = fe.Error["id"].(string)
	out.Message, _ = fe.Error["message"].(string)
	out.Reason, _ = fe.Error["reason"].(string)
	return out, nil
}

// LogoutURL returns the URL that signs the browser's session out and
// then sends it to returnTo; ErrUnauthenticated when there is no session.
func (c *Client) LogoutURL(ctx context.Context, cookie, returnTo string) (string, error) {
	req := c.api.FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(cookie)
	if returnTo != "" {
		req = req.ReturnTo(returnTo)
	}
	lf, resp, err := req.Execute()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	switch {
	case resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return "", fmt.Errorf("no session to sign out: %w", ErrUnauthenticated)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return lf.LogoutUrl, nil
}

func texts(ts []client.UiText) []Text {
	out := make([]Text, 0, len(ts))
	for _, t := range ts {
		out = append(out, Text{ID: t.Id, Text: t.Text, Type: t.Type, Context: t.Context})
	}
	return out
}

func text(t *client.UiText) *Text {
	if t == nil {
		return nil
	}
	return &Text{ID: t.Id, Text: t.Text, Type: t.Type, Context: t.Context}
}

// convert reads one node; scripts (WebAuthn, passkeys) are left out.
func convert(n client.UiNode) (Node, bool) {
	node := Node{Group: n.Group, Type: n.Type, Messages: texts(n.Messages), Label: text(n.Meta.Label)}
	switch a := n.Attributes.GetActualInstance().(type) {
	case *client.UiNodeInputAttributes:
		node.Name, node.InputType, node.Disabled = a.Name, a.Type, a.Disabled
		node.Required = a.Required != nil && *a.Required
		node.Autocomplete, node.Pattern = a.GetAutocomplete(), a.GetPattern()
		node.MaxLength = a.GetMaxlength()
		if node.Label == nil {
			node.Label = text(a.Label)
		}
		switch v := a.Value.(type) {
		case nil:
		case string:
			node.Value = v
		case bool:
			if v {
				node.Value = "true"
			} else {
				node.Value = "false"
			}
		default:
			node.Value = strings.TrimSpace(fmt.Sprint(v))
		}
	case *client.UiNodeTextAttributes:
		node.ElementID, node.Text = a.Id, text(&a.Text)
	case *client.UiNodeImageAttributes:
		node.ElementID, node.Src, node.Width, node.Height = a.Id, a.Src, a.Width, a.Height
	case *client.UiNodeAnchorAttributes:
		node.ElementID, node.Href, node.Label = a.Id, a.Href, text(&a.Title)
	default:
		return Node{}, false
	}
	return node, true
}
