package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// FieldError is one validation problem, at a field path such as
// "images[3].rebuild.tekton.pipeline". Map keys appear in brackets
// ("inputs[base-image]").
type FieldError struct {
	Path string
	Msg  string
	// Line is the 1-based line of the field (or of its nearest written
	// parent) in the file it was parsed from; 0 when unknown.
	Line int
}

func (e *FieldError) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Line > 0 {
		s += " (line " + strconv.Itoa(e.Line) + ")"
	}
	return s
}

// FieldErrors returns every FieldError in err's chain (through wrapping
// and errors.Join), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		for err != nil {
			if fe, ok := err.(*FieldError); ok {
				out = append(out, fe)
				return
			}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			err = errors.Unwrap(err)
		}
	}
	walk(err)
	return out
}

// Limits of the platforms cascade dispatches to.
const (
	maxWorkflowInputs = 25  // GitHub's limit on workflow_dispatch inputs
	maxEventTypeLen   = 100 // GitHub's limit on a repository_dispatch event_type
	maxMaxDepth       = 100
)

var (
	imageNameRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	ghOwnerRE    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	ghRepoRE     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	workflowRE   = regexp.MustCompile(`^(?:[^/\\\s]+\.ya?ml|[0-9]+)$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	paramNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	labelNameRE  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelValueRE = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	hostLabelRE  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$`)
)

// validator collects FieldErrors.
type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the whole config and reports every problem at once: a
// FieldError per problem, joined, classified as invalid input (exit 2).
// It expects defaults to have been applied (see ApplyDefaults).
func (c *Config) Validate() error {
	var v validator
	switch c.Version {
	case Version:
	case 0:
		v.add("version", "required (must be %d)", Version)
	default:
		v.add("version", "must be %d, got %d", Version, c.Version)
	}
	if len(c.Images) == 0 && c.Discover == nil {
		v.add("images", "at least one image is required (or a discover: source)")
	}
	v.discover("discover", c.Discover)
	names := map[string]int{}
	repoTags := map[string]int{}
	for i := range c.Images {
		p := fmt.Sprintf("images[%d]", i)
		v.image(p, &c.Images[i])
		if n := c.Images[i].Name; n != "" {
			if j, dup := names[n]; dup {
				v.add(p+".name", "duplicate name %q (also images[%d])", n, j)
			} else {
				names[n] = i
			}
		}
		if r, err := imageref.Parse(c.Images[i].Image); err == nil && r.Digest == "" {
			key := r.Name() + ":" + r.EffectiveTag()
			if j, dup := repoTags[key]; dup {
				v.add(p+".image", "same repository and tag as images[%d] (%s)", j, key)
			} else {
				repoTags[key] = i
			}
		}
	}
	for i, m := range c.Manifests {
		v.manifests(fmt.Sprintf("manifests[%d]", i), m)
	}
	v.limits(c.Limits)
	if c.Registries.Allow != nil && len(c.Registries.Allow) == 0 {
		v.add("registries.allow", "an empty list would allow no registry at all; list the hosts cascade may contact, or remove the key to allow every host")
	}
	v.hosts("registries.allow", c.Registries.Allow)
	v.hosts("registries.insecure", c.Registries.Insecure)
	v.clusters(c.Clusters)
	if len(v.errs) == 0 {
		return nil
	}
	return exitcode.AsInvalid(errors.Join(v.errs...))
}

func (v *validator) image(p string, img *Image) {
	switch {
	case img.Name == "":
		v.add(p+".name", "required")
	case len(img.Name) > 63 || !imageNameRE.MatchString(img.Name):
		v.add(p+".name", "%q must be at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", img.Name)
	}
	if img.Image == "" {
		v.add(p+".image", "required")
	} else if r, err := imageref.Parse(img.Image); err != nil {
		v.add(p+".image", "%v", err)
	} else if r.Digest != "" {
		v.add(p+".image", "%q must not carry a digest: a config image is a tag that moves", img.Image)
	}
	if img.Dockerfile != "" {
		if msg := checkRelPath(img.Dockerfile); msg != "" {
			v.add(p+".dockerfile", "%q %s", img.Dockerfile, msg)
		}
	}
	for j, f := range img.From {
		if _, err := imageref.Parse(f); err != nil {
			v.add(fmt.Sprintf("%s.from[%d]", p, j), "%v", err)
		}
	}
	v.rebuild(p+".rebuild", img.Rebuild)
}

func (v *validator) manifests(p string, m ManifestSet) {
	if len(m.Paths) == 0 {
		v.add(p+".paths", "at least one path is required")
	}
	for i, g := range m.Paths {
		v.glob(fmt.Sprintf("%s.paths[%d]", p, i), g)
	}
	for i, g := range m.Exclude {
		v.glob(fmt.Sprintf("%s.exclude[%d]", p, i), g)
	}
	for i, h := range m.Helm {
		hp := fmt.Sprintf("%s.helm[%d]", p, i)
		if h.Repository == "" {
			v.add(hp+".repository", "required")
		}
		if h.Tag == "" && h.Digest == "" {
			v.add(hp, "tag or digest is required")
		}
		for _, f := range []struct{ name, val string }{
			{"registry", h.Registry}, {"repository", h.Repository}, {"tag", h.Tag}, {"digest", h.Digest},
		} {
			if f.val != "" && !validKeyPath(f.val) {
				v.add(hp+"."+f.name, "%q must be a dotted key path like image.repository", f.val)
			}
		}
	}
}

func validKeyPath(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if strings.TrimSpace(part) == "" {
			return false
		}
	}
	return true
}

// glob checks a workspace-relative doublestar pattern.
func (v *validator) glob(p, g string) {
	switch {
	case g == "":
		v.add(p, "must not be empty")
	case strings.HasPrefix(g, "/") || strings.HasPrefix(g, `\`) || hasDrive(g):
		v.add(p, "%q must be relative to the workspace, not absolute", g)
	case hasDotDot(g):
		v.add(p, "%q must not contain '..': globs never leave the workspace", g)
	case !doublestar.ValidatePattern(g):
		v.add(p, "%q is not a valid glob", g)
	}
}

// checkRelPath returns why p is not a clean workspace-relative path, or "".
func checkRelPath(p string) string {
	switch {
	case strings.ContainsRune(p, 0):
		return "contains a NUL byte"
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || hasDrive(p):
		return "must be relative to the workspace, not absolute"
	case hasDotDot(p):
		return "must not contain '..': paths never leave the workspace"
	case path.Clean(p) != p:
		return fmt.Sprintf("is not clean (want %q)", path.Clean(p))
	}
	return ""
}

func hasDotDot(p string) bool {
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return true
		}
	}
	return false
}

// hasDrive reports a Windows drive prefix ("C:"), absolute on that OS.
func hasDrive(p string) bool {
	return len(p) >= 2 && p[1] == ':' && (p[0] >= 'A' && p[0] <= 'Z' || p[0] >= 'a' && p[0] <= 'z')
}

func (v *validator) limits(l Limits) {
	if l.MaxDispatches < 1 {
		v.add("limits.maxDispatches", "must be at least 1, got %d", l.MaxDispatches)
	}
	switch {
	case l.MaxDepth < 1:
		v.add("limits.maxDepth", "must be at least 1, got %d", l.MaxDepth)
	case l.MaxDepth > maxMaxDepth:
		v.add("limits.maxDepth", "must be at most %d, got %d", maxMaxDepth, l.MaxDepth)
	}
}

// hosts checks registry hosts: host[:port], no scheme or path.
func (v *validator) hosts(p string, hosts []string) {
	for i, h := range hosts {
		if !validHost(h) {
			v.add(fmt.Sprintf("%s[%d]", p, i), "%q must be a registry host, host[:port]", h)
		}
	}
}

func validHost(h string) bool {
	host := h
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		ip := net.ParseIP(h[1 : len(h)-1])
		return ip != nil && strings.Contains(h, ":")
	}
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		hh, port, err := net.SplitHostPort(h)
		if err != nil {
			return false
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
			return false
		}
		if strings.HasPrefix(h, "[") {
			return net.ParseIP(hh) != nil && strings.Contains(hh, ":")
		}
		host = hh
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, l := range strings.Split(host, ".") {
		if len(l) > 63 || !hostLabelRE.MatchString(l) {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
