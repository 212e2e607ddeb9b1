package awxclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// PingInfo is the answer of GET /api/v2/ping/, which needs no authentication.
type PingInfo struct {
	HA          bool   `json:"ha"`
	Version     string `json:"version"`
	ActiveNode  string `json:"active_node"`
	InstallUUID string `json:"install_uuid"`
}

// User is an AWX user.
type User struct {
	ID          int    `json:"id"`
	Username    string `json:"username"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email"`
	IsSuperuser bool   `json:"is_superuser"`
}

// Organization is an AWX organization.
type Organization struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Credential is an AWX credential (secret inputs are never read).
type Credential struct {
	ID             int    `json:"id"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	Kind           string `json:"kind"`
	CredentialType int    `json:"credential_type"`
	Organization   int    `json:"organization"`
}

// Ping checks that AWX answers and returns its version.
// https://docs.ansible.com/automation-controller/latest/html/controllerapi/api_ref.html#/System_Configuration
func (c *Client) Ping(ctx context.Context) (PingInfo, error) {
	var p PingInfo
	err := c.do(ctx, request{method: http.MethodGet, path: "ping/"}, &p)
	return p, err
}

// Me returns the user the token belongs to; it fails with ErrUnauthorized
// when the token is not valid.
func (c *Client) Me(ctx context.Context) (User, error) {
	users, err := list[User](ctx, c, "me/", nil)
	if err != nil {
		return User{}, err
	}
	if len(users) != 1 {
		return User{}, &LookupError{Kind: "user", Name: "me", Count: len(users)}
	}
	return users[0], nil
}

// GetOrganizationByName returns the organization with that exact name.
func (c *Client) GetOrganizationByName(ctx context.Context, name string) (Organization, error) {
	return byName[Organization](ctx, c, "organizations/", "organization", name, nil)
}

// FindCredential finds the credential name of kind ("ssh" for Machine,
// "scm" for Source Control; "" for any) that organization org can use.
// Credentials may belong to no organization, as the preload data's "Demo
// Credential" does, so the organization's own credential is preferred,
// then an organization-less one. It fails with a *LookupError matching
// ErrNotFound (none, or only other organizations' credentials) or
// ErrAmbiguous (several at the same level), saying which.
func (c *Client) FindCredential(ctx context.Context, org int, name, kind string) (Credential, error) {
	all, err := list[Credential](ctx, c, "credentials/", url.Values{"name": {name}})
	if err != nil {
		return Credential{}, fmt.Errorf("credential %q: %w", name, err)
	}
	var own, orgless, other []Credential
	for _, cr := range all {
		if cr.Name != name || (kind != "" && cr.Kind != kind) {
			continue
		}
		switch cr.Organization {
		case org:
			own = append(own, cr)
		case 0:
			orgless = append(orgless, cr)
		default:
			other = append(other, cr)
		}
	}
	what := "credential"
	if kind != "" {
		what = kind + " credential"
	}
	for _, tier := range []struct {
		found []Credential
		where string
	}{{own, "in the organization"}, {orgless, "without an organization"}} {
		switch len(tier.found) {
		case 0:
			continue
		case 1:
			return tier.found[0], nil
		}
		ids := make([]string, len(tier.found))
		for i, cr := range tier.found {
			ids[i] = itoa(cr.ID)
		}
		return Credential{}, &LookupError{Kind: what, Name: name, Count: len(tier.found),
			Hint: fmt.Sprintf("%d credentials %s have that name (ids %s): rename all but one in AWX", len(tier.found), tier.where, strings.Join(ids, ", "))}
	}
	hint := "create it in AWX (Resources > Credentials), or fix the name in the config"
	if kind != "" && len(all) > 0 && len(other) == 0 {
		hint = fmt.Sprintf("a credential of that name exists but is not of kind %q", kind)
	}
	if len(other) > 0 {
		hint = "only other organizations have a credential of that name: create one in this organization or without one"
	}
	return Credential{}, &LookupError{Kind: what, Name: name, Hint: hint}
}

// byName lists path?name=<name> and expects exactly one result.
func byName[T any](ctx context.Context, c *Client, path, kind, name string, q url.Values) (T, error) {
	var zero T
	if q == nil {
		q = url.Values{}
	}
	q.Set("name", name)
	items, err := list[T](ctx, c, path, q)
	if err != nil {
		return zero, err
	}
	if len(items) != 1 {
		return zero, &LookupError{Kind: kind, Name: name, Count: len(items)}
	}
	return items[0], nil
}
