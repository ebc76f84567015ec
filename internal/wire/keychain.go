package wire

import (
	"encoding/base64"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imagecascade/cascade/internal/redact"
)

// LearnAuth teaches r the credentials in a registry auth config: the
// base64 user:password, the password, identity and registry tokens.
func LearnAuth(r *redact.Redactor, a *authn.AuthConfig) {
	if a == nil {
		return
	}
	user, pass := a.Username, a.Password
	if a.Auth != "" {
		r.Add(a.Auth)
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a.Auth)); err == nil {
			if u, p, ok := strings.Cut(string(raw), ":"); ok {
				user, pass = u, p
			}
		}
	}
	if pass != "" {
		r.AddUserPassword(user, pass)
	}
	r.Add(a.IdentityToken)
	r.Add(a.RegistryToken)
}

// learningKeychain teaches the redactor what its keychain resolves
// (credential helpers included).
type learningKeychain struct {
	kc authn.Keychain
	r  *redact.Redactor
}

func (k learningKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	a, err := k.kc.Resolve(res)
	if err != nil || a == nil || a == authn.Anonymous {
		return a, err
	}
	if cfg, err := a.Authorization(); err == nil {
		LearnAuth(k.r, cfg)
	}
	return a, nil
}
