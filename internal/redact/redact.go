// Package redact is cascade's one redaction and sanitising layer. A
// Redactor knows every secret the run holds (added as they are learned:
// tokens from the environment, Authorization headers as they are sent,
// webhook secrets, Kubernetes credentials, Docker config passwords) and
// removes each from text in the forms a remote server or a library is
// likely to echo it:
//
//   - raw, Go-quoted and JSON-escaped;
//   - percent-encoded (query and path escaping, every byte escaped, upper
//     and lower case hex);
//   - base64, standard and URL alphabet, padded and not, of the secret
//     alone and with the prefixes "x-access-token:" and "<user>:" — and
//     inside any longer base64 run: for each of the 3 byte alignments the
//     secret can have in the encoded data, the characters that depend on
//     the secret alone are searched for, and the whole base64 run around a
//     match is removed.
//
// A secret with a line break is also removed line by line (a PEM key).
// Secrets shorter than MinSecretLen are ignored (removing a 3-character
// string everywhere would destroy the output, not protect it); a base64
// run is only searched for the alignment forms of secrets of at least
// MinEmbeddedLen bytes.
//
// Quote makes remote text inert in a GitHub Actions log: no line of its
// result starts (after blanks) with "::" or "##[", the prefixes of
// workflow commands.
//
// A Redactor travels in the context (NewContext, FromContext), so that the
// code that learns a secret and the sinks that print share it. Every
// method is safe on a nil *Redactor (then only Quote applies) and for
// concurrent use.
package redact

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Marker replaces every removed secret.
const Marker = "[REDACTED]"

// MinSecretLen is the shortest secret that is redacted.
const MinSecretLen = 4

// MinEmbeddedLen is the shortest secret whose base64 form is also searched
// for inside longer base64 runs.
const MinEmbeddedLen = 8

// TokenPrefix is the user name git and GitHub put in front of a token in
// HTTP basic authentication.
const TokenPrefix = "x-access-token:"

// Redactor removes known secrets from text.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]bool
	// plain are literal needles, longest first.
	plain []string
	// cores are base64 forms (whole, and alignment-independent fragments
	// of longer runs): a match removes the whole base64 run around it.
	cores []string
}

// New returns a Redactor that knows secrets.
func New(secrets ...string) *Redactor {
	r := &Redactor{secrets: map[string]bool{}}
	for _, s := range secrets {
		r.Add(s)
	}
	return r
}

// Add makes r remove secret from now on, as given and without the blank
// space around it (a secret read from a file often ends in a line
// break). Secrets shorter than MinSecretLen are ignored.
func (r *Redactor) Add(secret string) {
	r.add(secret, "")
	if t := strings.TrimSpace(secret); t != secret {
		r.add(t, "")
	}
}

// AddUserPassword makes r remove password, and "user:password" in every
// form (the base64 of it is what basic authentication sends).
func (r *Redactor) AddUserPassword(user, password string) {
	r.add(password, user)
}

// AddAuthorization learns the credential in an Authorization header value:
// the token of "Bearer", "token" or any other scheme, and the password
// (and user:password) of "Basic".
func (r *Redactor) AddAuthorization(value string) {
	if r == nil || value == "" {
		return
	}
	scheme, cred, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok {
		r.Add(value)
		return
	}
	cred = strings.TrimSpace(cred)
	if strings.EqualFold(scheme, "basic") {
		if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
			if user, pass, ok := strings.Cut(string(raw), ":"); ok {
				r.AddUserPassword(user, pass)
			}
		}
	}
	r.Add(cred)
}

func (r *Redactor) add(secret, user string) {
	if r == nil || len(secret) < MinSecretLen {
		return
	}
	key := user + "\x00" + secret
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets[key] {
		return
	}
	r.secrets[key] = true
	plain, cores := forms(secret, user)
	for _, line := range strings.FieldsFunc(secret, func(c rune) bool { return c == '\n' || c == '\r' }) {
		if line = strings.TrimSpace(line); line != secret && len(line) >= MinSecretLen && !strings.HasPrefix(line, "-----") {
			p, c := forms(line, "")
			plain, cores = append(plain, p...), append(cores, c...)
		}
	}
	r.plain = merge(r.plain, plain)
	r.cores = merge(r.cores, cores)
}

// merge adds the new needles to a set kept longest first.
func merge(have, add []string) []string {
	for _, s := range add {
		if s != "" && !slices.Contains(have, s) {
			have = append(have, s)
		}
	}
	slices.SortStableFunc(have, func(a, b string) int { return len(b) - len(a) })
	return have
}

var b64encodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// forms lists the literal needles and base64 cores of secret.
func forms(secret, user string) (plain, cores []string) {
	plain = append(plain, secret, strconv.Quote(secret)[1:len(strconv.Quote(secret))-1])
	if j, err := json.Marshal(secret); err == nil {
		plain = append(plain, string(j[1:len(j)-1]))
	}
	plain = append(plain, percentForms(secret)...)
	// user is "" for a bare secret: ":"+secret is then what basic
	// authentication with an empty user name sends.
	whole := []string{secret, TokenPrefix + secret, user + ":" + secret}
	if user != "" {
		plain = append(plain, user+":"+secret)
		plain = append(plain, percentForms(user+":"+secret)...)
	}
	for _, w := range whole {
		for _, enc := range b64encodings {
			cores = append(cores, enc.EncodeToString([]byte(w)))
		}
	}
	if len(secret) >= MinEmbeddedLen {
		cores = append(cores, embeddedCores(secret)...)
	}
	return plain, cores
}

// embeddedCores returns, for each of the 3 alignments secret can have in
// longer data, the base64 characters that encode secret's bytes alone
// (whole 3-byte groups), in the standard and URL alphabets.
func embeddedCores(secret string) []string {
	var out []string
	for skip := 0; skip < 3; skip++ {
		b := []byte(secret[skip:])
		b = b[:len(b)/3*3]
		if len(b) == 0 {
			continue
		}
		out = append(out, base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b))
	}
	return out
}

const upperHex, lowerHex = "0123456789ABCDEF", "0123456789abcdef"

// percentForms lists the percent-encodings of s.
func percentForms(s string) []string {
	out := []string{url.QueryEscape(s), url.PathEscape(s), strings.ReplaceAll(url.QueryEscape(s), "+", "%20")}
	for _, hex := range []string{upperHex, lowerHex} {
		var all strings.Builder
		for i := 0; i < len(s); i++ {
			all.WriteByte('%')
			all.WriteByte(hex[s[i]>>4])
			all.WriteByte(hex[s[i]&15])
		}
		out = append(out, all.String())
	}
	for _, e := range out[:3] {
		out = append(out, lowerEscapes(e))
	}
	return out
}

// lowerEscapes writes the hex digits of every %XX escape in lower case.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// String returns s without any known secret.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.plain) == 0 {
		return s
	}
	// A removal can join text into a new match (a secret around another);
	// a few passes reach the fixed point.
	for pass := 0; pass < 4; pass++ {
		before := s
		for _, c := range r.cores {
			s = removeRuns(s, c)
		}
		for _, n := range r.plain {
			if strings.Contains(s, n) {
				s = strings.ReplaceAll(s, n, Marker)
			}
		}
		if s == before {
			break
		}
	}
	return s
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '=' || c == '-' || c == '_'
}

// removeRuns replaces every base64 run of s that contains core.
func removeRuns(s, core string) string {
	for {
		i := strings.Index(s, core)
		if i < 0 {
			return s
		}
		start, end := i, i+len(core)
		for start > 0 && isBase64(s[start-1]) {
			start--
		}
		for end < len(s) && isBase64(s[end]) {
			end++
		}
		s = s[:start] + Marker + s[end:]
	}
}

// Text is String then Quote: remote text made safe to print or store.
func (r *Redactor) Text(s string) string { return Quote(r.String(s)) }

// Error returns err with its text redacted (and quoted); errors.Is and
// errors.As still see the original chain. A nil err stays nil.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.Text(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// Quote returns s with every line that would be a GitHub Actions workflow
// command (starting, after blanks, with "::" or "##[") prefixed by "> ",
// so the runner prints it instead of acting on it.
func Quote(s string) string {
	if !strings.Contains(s, "::") && !strings.Contains(s, "##[") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		line := s
		if i := strings.IndexAny(s, "\n\r"); i >= 0 {
			line = s[:i+1]
		}
		s = s[len(line):]
		if IsCommand(line) {
			b.WriteString("> ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// IsCommand reports whether line would be read as a workflow command.
func IsCommand(line string) bool {
	t := strings.TrimLeftFunc(line, func(c rune) bool { return unicode.IsSpace(c) || c == '\ufeff' })
	return strings.HasPrefix(t, "::") || strings.HasPrefix(t, "##[")
}

type ctxKey struct{}

// NewContext returns ctx carrying r.
func NewContext(ctx context.Context, r *Redactor) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext returns the Redactor in ctx, or nil (whose methods only
// quote).
func FromContext(ctx context.Context) *Redactor {
	if ctx == nil {
		return nil
	}
	r, _ := ctx.Value(ctxKey{}).(*Redactor)
	return r
}
