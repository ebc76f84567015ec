package writeback

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// git runs the git CLI in one working tree with a fixed environment:
// no terminal prompts, C locale (messages are parsed), and optional
// credentials passed as an http.extraHeader through GIT_CONFIG_* variables
// so they never appear in argv or in a URL.
type git struct {
	dir     string
	env     []string
	secrets []string
}

func newGit(dir string) *git {
	env := os.Environ()
	env = append(env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "LANGUAGE=C", "GIT_OPTIONAL_LOCKS=0")
	return &git{dir: dir, env: env}
}

// at is a git for another working tree of the same repository, with the
// same environment and secrets.
func (g *git) at(dir string) *git {
	return &git{dir: dir, env: slices.Clone(g.env), secrets: slices.Clone(g.secrets)}
}

// withAuth makes git send "Authorization: Basic base64(user:password)" to
// urlPrefix (scheme://host/) only, and remembers the secret for redaction.
func (g *git) withAuth(urlPrefix, user, password string) {
	if password == "" {
		return
	}
	cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	g.addSecret(password)
	g.addSecret(cred)
	n := 0
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "GIT_CONFIG_COUNT="); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	key := "http.extraHeader"
	if urlPrefix != "" {
		key = "http." + urlPrefix + ".extraHeader"
	}
	g.env = append(g.env,
		"GIT_CONFIG_COUNT="+strconv.Itoa(n+1),
		fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", n, key),
		fmt.Sprintf("GIT_CONFIG_VALUE_%d=Authorization: Basic %s", n, cred),
	)
}

// addSecret remembers s and its common encodings for redaction.
func (g *git) addSecret(s string) {
	if s == "" {
		return
	}
	g.secrets = append(g.secrets, s, url.QueryEscape(s), url.PathEscape(s),
		base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)))
}

// userinfoRE matches URL userinfo, including malformed userinfo with an
// unescaped "/" in a password (over-redacting a path with "@" is fine).
var userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^@\s'"]+@`)

// redact removes every known secret and any URL userinfo from s.
func (g *git) redact(s string) string {
	return redact(s, g.secrets)
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return userinfoRE.ReplaceAllString(s, "${1}***@")
}

// gitError is a failed git command; its text is redacted.
type gitError struct {
	args   string
	output string
	err    error
}

func (e *gitError) Unwrap() error { return e.err }

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", e.args, e.err)
	if e.output != "" {
		msg += ": " + e.output
	}
	return msg
}

// run runs git with args and returns its stdout. On failure the error holds
// the redacted stderr. stdin may be nil.
func (g *git) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	out, errOut, err := g.exec(ctx, stdin, args...)
	if err != nil {
		return out, &gitError{args: g.redact(strings.Join(args, " ")), output: g.redact(strings.TrimSpace(errOut)), err: err}
	}
	return out, nil
}

// exec runs git and returns stdout, stderr and the exit error unredacted;
// callers redact before anything leaves the package.
func (g *git) exec(ctx context.Context, stdin []byte, args ...string) (string, string, error) {
	full := append([]string{"-C", g.dir, "--literal-pathspecs"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = g.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return stdout.String(), stderr.String(), err
}

// exitCode returns the exit status of a failed command, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
