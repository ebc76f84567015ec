// Package imageref parses, validates and normalizes container image
// references and digests, and decides which references name the same
// repository. Matching is always on the normalized repository name, never on
// substrings: "app" is not "app-api", and "nginx", "library/nginx",
// "docker.io/library/nginx" and "index.docker.io/library/nginx" are one
// repository.
package imageref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// DockerHub is the normalized name of Docker Hub's registry.
const DockerHub = "docker.io"

// Digest is a validated content digest: "sha256:" followed by 64 lowercase
// hexadecimal characters. The zero value means "no digest".
type Digest string

// Hex returns the hexadecimal part of the digest.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), "sha256:") }

// Short returns the first 12 hex characters, for display and for names.
func (d Digest) Short() string {
	h := d.Hex()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (d Digest) String() string { return string(d) }

// ErrInvalid is wrapped by every parse error of this package.
var ErrInvalid = errors.New("invalid image reference")

// ParseDigest validates s as a digest. Only sha256 is accepted: it is what
// every registry cascade talks to uses, and a strict form means a typo is
// caught before any network call.
func ParseDigest(s string) (Digest, error) {
	algo, hex, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("%w: digest %q: want sha256:<64 lowercase hex>", ErrInvalid, s)
	}
	if algo != "sha256" {
		return "", fmt.Errorf("%w: digest %q: unsupported algorithm %q, want sha256", ErrInvalid, s, algo)
	}
	if len(hex) != 64 {
		return "", fmt.Errorf("%w: digest %q: want 64 hex characters after sha256:, got %d", ErrInvalid, s, len(hex))
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("%w: digest %q: %q is not a lowercase hex character", ErrInvalid, s, c)
		}
	}
	return Digest(s), nil
}

// Ref is a parsed image reference.
type Ref struct {
	// Original is the text as it was written.
	Original string
	// WrittenName is the name part as written, without tag and digest
	// ("nginx", "docker.io/library/nginx", "host:5000/app"). Rewrites keep it.
	WrittenName string
	// Registry is the normalized registry host (lowercase, with port;
	// Docker Hub's aliases become "docker.io").
	Registry string
	// Repository is the normalized repository path within the registry
	// ("library/nginx" for "nginx" on Docker Hub).
	Repository string
	// Tag is the tag, "" when absent.
	Tag string
	// Digest is the digest, "" when absent.
	Digest Digest
}

var (
	tagRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostRE      = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
)

// Parse parses an image reference: NAME, NAME:TAG, NAME@DIGEST or
// NAME:TAG@DIGEST, where NAME is [HOST[:PORT]/]PATH. It never touches the
// network. Anything malformed — including a bad digest — is an error that
// wraps ErrInvalid.
func Parse(s string) (Ref, error) {
	r := Ref{Original: s}
	if s == "" {
		return r, fmt.Errorf("%w: empty reference", ErrInvalid)
	}
	if len(s) > 512 {
		return r, fmt.Errorf("%w: reference longer than 512 characters", ErrInvalid)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return r, fmt.Errorf("%w: %q: contains whitespace or a control character", ErrInvalid, s)
		} else if c > 0x7f {
			return r, fmt.Errorf("%w: %q: contains a non-ASCII character (image references are ASCII)", ErrInvalid, s)
		}
	}
	rest := s
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		d, err := ParseDigest(rest[at+1:])
		if err != nil {
			return r, fmt.Errorf("reference %q: %w", s, err)
		}
		r.Digest = d
		rest = rest[:at]
	}
	if strings.Contains(rest, "sha256:") || strings.HasSuffix(rest, ":sha256") {
		return r, fmt.Errorf("%w: %q: a digest must follow '@', not ':'", ErrInvalid, s)
	}
	slash := strings.LastIndexByte(rest, '/')
	if colon := strings.LastIndexByte(rest, ':'); colon > slash {
		r.Tag = rest[colon+1:]
		rest = rest[:colon]
		if !tagRE.MatchString(r.Tag) {
			return r, fmt.Errorf("%w: %q: tag %q is not valid", ErrInvalid, s, r.Tag)
		}
	}
	if rest == "" {
		return r, fmt.Errorf("%w: %q: missing repository name", ErrInvalid, s)
	}
	r.WrittenName = rest
	path := rest
	host := DockerHub
	if first, after, ok := strings.Cut(rest, "/"); ok && (strings.ContainsAny(first, ".:[") || first == "localhost" || first != strings.ToLower(first)) {
		if !hostRE.MatchString(first) {
			return r, fmt.Errorf("%w: %q: registry host %q is not valid", ErrInvalid, s, first)
		}
		host = normalizeHost(first)
		path = after
		if !strings.ContainsAny(host, ".:[") && host != "localhost" {
			// Only its capitals made it a host; lowercased, it would print
			// as a Docker Hub path and name another image.
			return r, fmt.Errorf("%w: %q: registry host %q has no '.' or ':' and is not localhost", ErrInvalid, s, first)
		}
	}
	for _, c := range strings.Split(path, "/") {
		if !componentRE.MatchString(c) {
			return r, fmt.Errorf("%w: %q: repository path component %q is not valid (lowercase letters, digits and separators . _ __ -)", ErrInvalid, s, c)
		}
	}
	if host == DockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if len(host)+1+len(path) > 255 {
		return r, fmt.Errorf("%w: %q: repository name longer than 255 characters", ErrInvalid, s)
	}
	r.Registry = host
	r.Repository = path
	return r, nil
}

// MustParse is Parse for references known to be valid, such as constants in
// tests and examples. It panics on error.
func MustParse(s string) Ref {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

func normalizeHost(h string) string {
	h = strings.ToLower(h)
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return DockerHub
	}
	return h
}

// Name is the normalized repository name: registry and path
// ("docker.io/library/nginx", "host:5000/app").
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// String is the normalized form of the whole reference.
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + string(r.Digest)
	}
	return s
}

// Short is the name as written plus tag, without the digest: what a person
// calls the image.
func (r Ref) Short() string {
	if r.Tag != "" {
		return r.WrittenName + ":" + r.Tag
	}
	return r.WrittenName
}

// SameRepository reports whether r and o name the same repository after
// normalization. It never matches on substrings.
func (r Ref) SameRepository(o Ref) bool {
	return r.Registry == o.Registry && r.Repository == o.Repository
}

// EffectiveTag is the tag the reference follows: its tag, or "latest" when
// it has neither tag nor digest. A digest-only reference follows no tag and
// returns "".
func (r Ref) EffectiveTag() string {
	if r.Tag != "" {
		return r.Tag
	}
	if r.Digest == "" {
		return "latest"
	}
	return ""
}

// Tracks reports whether the reference r (as written in a Dockerfile, a
// config or a manifest) follows the image u that was updated: the same
// repository, and either u names no tag, r is a digest-only pin of the
// repository, or r's effective tag is u's tag. A reference with another tag
// never tracks u.
func (r Ref) Tracks(u Ref) bool {
	if !r.SameRepository(u) {
		return false
	}
	if u.Tag == "" {
		return true
	}
	rt := r.EffectiveTag()
	return rt == "" || rt == u.Tag
}

// WithDigest returns the reference as written with its digest set to d,
// keeping the written name and the tag: "name:tag@d" or "name@d".
func (r Ref) WithDigest(d Digest) string {
	return r.Short() + "@" + string(d)
}

// MalformedDigest says why reference s, which does not parse, is not
// pinned when it names image's repository followed by a digest that is
// malformed or of another algorithm than sha256; "" when s is anything
// else.
func MalformedDigest(s string, image Ref) string {
	name, d, ok := strings.Cut(s, "@")
	if !ok {
		return ""
	}
	ref, err := Parse(name)
	if err != nil || !ref.SameRepository(image) {
		return ""
	}
	if algo, _, _ := strings.Cut(d, ":"); algo != "sha256" {
		return fmt.Sprintf("digest %q is not a sha256 digest, the only kind cascade pins; not pinned", d)
	}
	return fmt.Sprintf("digest %q is malformed (want sha256: and 64 lowercase hex digits); not pinned", d)
}
