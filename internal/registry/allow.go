package registry

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrHostNotAllowed is wrapped by every error for a host that is not on the
// allowlist (see WithAllow). Such errors are also classified as refused
// (exit code 5).
var ErrHostNotAllowed = errors.New("registry host not allowed")

// HostNotAllowedError names the host a request was refused for.
type HostNotAllowedError struct {
	// Host as the request or reference named it, with port if any.
	Host string
}

func (e *HostNotAllowedError) Error() string {
	return fmt.Sprintf("host %q is not on the registry allowlist", e.Host)
}

// Unwrap makes errors.Is(err, ErrHostNotAllowed) true.
func (e *HostNotAllowedError) Unwrap() error { return ErrHostNotAllowed }

// dockerHubHosts are the hosts Docker Hub answers from: the registry API,
// its token service and its blob CDN. Allowing "docker.io" allows them all.
var dockerHubHosts = []string{
	"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com",
	"auth.docker.io", "production.cloudflare.docker.com",
}

// hostSet is a set of hosts; the zero value is empty.
type hostSet struct {
	exact    map[string]bool
	suffixes []string // ".example.com" for "*.example.com"
}

func (s hostSet) empty() bool { return len(s.exact) == 0 && len(s.suffixes) == 0 }

// contains reports whether host (as in a URL, "name[:port]") is in the set.
func (s hostSet) contains(host string) bool {
	h := normHost(host)
	if s.exact[h] {
		return true
	}
	name := h
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		name = h[:i]
	}
	for _, suf := range s.suffixes {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// normHost lowercases a host and drops a default port.
func normHost(h string) string {
	h = strings.ToLower(h)
	h = strings.TrimSuffix(h, ":443")
	return strings.TrimSuffix(h, ":80")
}

// parseHostSet validates host entries; wildcards ("*.example.com") are
// accepted only when wild is true.
func parseHostSet(hosts []string, wild bool) (hostSet, error) {
	s := hostSet{exact: map[string]bool{}}
	var errs []error
	for i, raw := range hosts {
		h := normHost(strings.TrimSpace(raw))
		if wild && strings.HasPrefix(h, "*.") {
			if err := checkHost(h[2:]); err != nil || strings.Contains(h[2:], ":") {
				errs = append(errs, fmt.Errorf("[%d] %q: want \"*.\" followed by a domain name without port", i, raw))
				continue
			}
			s.suffixes = append(s.suffixes, h[1:])
			continue
		}
		if err := checkHost(h); err != nil {
			errs = append(errs, fmt.Errorf("[%d] %q: %w", i, raw, err))
			continue
		}
		if isDockerHub(h) {
			for _, d := range dockerHubHosts {
				s.exact[d] = true
			}
			continue
		}
		s.exact[h] = true
	}
	return s, errors.Join(errs...)
}

func isDockerHub(h string) bool {
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return true
	}
	return false
}

// checkHost accepts "name" or "name:port", nothing else (no scheme, path,
// user information or wildcard).
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	u, err := url.Parse("//" + h)
	if err != nil || u.Host != h || u.User != nil || strings.ContainsAny(h, "*/@") {
		return errors.New("want host or host:port, without scheme or path")
	}
	if p := u.Port(); p == "" && strings.HasSuffix(h, ":") {
		return errors.New("empty port")
	}
	return nil
}

// allowTransport refuses, before any connection, every request to a host
// that is not allowed. It sits below authentication, so token realms and
// redirect targets are checked as well as the registry itself.
type allowTransport struct {
	allow hostSet
	inner http.RoundTripper
}

func (t *allowTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.allow.empty() && !t.allow.contains(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &HostNotAllowedError{Host: req.URL.Host}
	}
	return t.inner.RoundTrip(req)
}
