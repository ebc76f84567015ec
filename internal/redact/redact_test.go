package redact

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// encodings are the forms a remote server may echo a secret in; the fuzz
// target and the table tests use all of them.
var encodings = []struct {
	name string
	enc  func(secret, user string) string
}{
	{"raw", func(s, _ string) string { return s }},
	{"go quoted", func(s, _ string) string { return strconv.Quote(s) }},
	{"json", func(s, _ string) string { b, _ := json.Marshal(s); return string(b) }},
	{"query escaped", func(s, _ string) string { return url.QueryEscape(s) }},
	{"path escaped", func(s, _ string) string { return url.PathEscape(s) }},
	{"every byte escaped", func(s, _ string) string { return allEscaped(s, "%02X") }},
	{"every byte escaped lower", func(s, _ string) string { return allEscaped(s, "%02x") }},
	{"query escaped lower", func(s, _ string) string { return lowerEscapes(url.QueryEscape(s)) }},
	{"base64", func(s, _ string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"base64 raw", func(s, _ string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }},
	{"base64 url", func(s, _ string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }},
	{"base64 url raw", func(s, _ string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }},
	{"base64 x-access-token", func(s, _ string) string { return base64.StdEncoding.EncodeToString([]byte(TokenPrefix + s)) }},
	{"base64 url x-access-token", func(s, _ string) string { return base64.RawURLEncoding.EncodeToString([]byte(TokenPrefix + s)) }},
	{"base64 user:password", func(s, u string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + s)) }},
	{"basic header", func(s, u string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+s))
	}},
	{"user:password escaped", func(s, u string) string { return url.QueryEscape(u + ":" + s) }},
}

// embedded encodes secret inside longer data, at each byte alignment.
var embedded = []struct {
	name string
	enc  func(pre, secret, post string) string
}{
	{"std", func(p, s, q string) string { return base64.StdEncoding.EncodeToString([]byte(p + s + q)) }},
	{"std raw", func(p, s, q string) string { return base64.RawStdEncoding.EncodeToString([]byte(p + s + q)) }},
	{"url", func(p, s, q string) string { return base64.URLEncoding.EncodeToString([]byte(p + s + q)) }},
	{"url raw", func(p, s, q string) string { return base64.RawURLEncoding.EncodeToString([]byte(p + s + q)) }},
}

func allEscaped(s, format string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + fmt.Sprintf(format, s[i]))
	}
	return b.String()
}

const (
	testToken = "ghp_R39tokenAbcdefghijklmnopqrstuvwxyz0123"
	testUser  = "robot$acme"
	testPass  = "p@ss/w+rd=Secret?&"
)

func TestRedactEveryEncoding(t *testing.T) {
	t.Parallel()
	r := New(testToken)
	r.AddUserPassword(testUser, testPass)
	for _, secret := range []string{testToken, testPass} {
		for _, e := range encodings {
			t.Run(e.name+"/"+secret[:4], func(t *testing.T) {
				t.Parallel()
				form := e.enc(secret, testUser)
				text := "error: the server said «" + form + "» (400)\n"
				got := r.String(text)
				if strings.Contains(got, form) || strings.Contains(got, secret) {
					t.Errorf("String(%q) = %q: the secret survives", text, got)
				}
				if !strings.Contains(got, Marker) || !strings.HasPrefix(got, "error: the server said") {
					t.Errorf("String(%q) = %q: want the text around the secret kept and the marker", text, got)
				}
			})
		}
		for _, e := range embedded {
			for pre := 0; pre < 3; pre++ {
				t.Run(fmt.Sprintf("embedded %s at %d/%s", e.name, pre, secret[:4]), func(t *testing.T) {
					t.Parallel()
					form := e.enc(strings.Repeat("{", pre+7), secret, `","more":"json"}`)
					got := r.String(`{"blob":"` + form + `"}`)
					if diff := cmp.Diff(`{"blob":"`+Marker+`"}`, got); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func TestRedactKeepsOtherText(t *testing.T) {
	t.Parallel()
	r := New(testToken, "tiny"[:3], "")
	tests := []struct{ in, want string }{
		{"sha256:" + strings.Repeat("ab", 32), "sha256:" + strings.Repeat("ab", 32)},
		{"tin is short", "tin is short"},
		{"token " + testToken + ".", "token " + Marker + "."},
		{"", ""},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, r.String(tt.in)); diff != "" {
			t.Errorf("String(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	var nilR *Redactor
	if got := nilR.String(testToken); got != testToken {
		t.Errorf("nil Redactor changed the text: %q", got)
	}
}

func TestRedactAuthorizationAndPEM(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIOKeyLineOneAbcdefghijklmnopqrstuvwxyz0123456789\nAoGCCqGSM49AwEHoUQDQgAEsecondLineOfTheKey\n-----END EC PRIVATE KEY-----\n"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-bot:Registry-Passw0rd"))
	r := New()
	r.AddAuthorization("Bearer kube-bearer-token-123")
	r.AddAuthorization(basic)
	r.Add(pem)
	tests := []struct{ name, in string }{
		{"bearer", "Unauthorized: kube-bearer-token-123 is not valid"},
		{"basic password", "user ci-bot password Registry-Passw0rd"},
		{"basic header", "got " + basic},
		{"one pem line", "key line MHcCAQEEIOKeyLineOneAbcdefghijklmnopqrstuvwxyz0123456789"},
	}
	for _, tt := range tests {
		got := r.String(tt.in)
		for _, s := range []string{"kube-bearer-token-123", "Registry-Passw0rd", "MHcCAQEEIOKeyLineOne", "AoGCCqGSM49AwEHoUQDQgAEsecondLineOfTheKey"} {
			if strings.Contains(got, s) {
				t.Errorf("%s: String(%q) = %q: %q survives", tt.name, tt.in, got, s)
			}
		}
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"::warning::boom", "> ::warning::boom"},
		{"ok\n  ::add-mask::x\n##[error]y\nfine :: here", "ok\n>   ::add-mask::x\n> ##[error]y\nfine :: here"},
		{"a\r::set-output name=x::y", "a\r> ::set-output name=x::y"},
		{"\u00a0\t::group::g", "> \u00a0\t::group::g"},
	}
	for _, tt := range tests {
		got := Quote(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Quote(%q) (-want +got):\n%s", tt.in, diff)
		}
		for _, line := range strings.FieldsFunc(got, func(c rune) bool { return c == '\n' || c == '\r' }) {
			if IsCommand(line) {
				t.Errorf("Quote(%q): line %q is a workflow command", tt.in, line)
			}
		}
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	r := New(testToken)
	var quote atomic.Bool
	quote.Store(true)
	var out bytes.Buffer
	w := NewWriter(&out, r, &quote)
	// The secret arrives split across writes.
	for _, p := range []string{"first " + testToken[:10], testToken[10:] + " end\n::warning::x\n", "tail " + testToken} {
		if _, err := io.WriteString(w, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "first " + Marker + " end\n> ::warning::x\ntail " + Marker
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	quote.Store(false)
	out.Reset()
	_, _ = io.WriteString(w, "::notice::mine\n")
	if diff := cmp.Diff("::notice::mine\n", out.String()); diff != "" {
		t.Errorf("quoting off (-want +got):\n%s", diff)
	}
}

func TestErrorKeepsChain(t *testing.T) {
	t.Parallel()
	base := errors.New("sentinel")
	r := New(testToken)
	err := r.Error(fmt.Errorf("got %s: %w", testToken, base))
	if !errors.Is(err, base) || strings.Contains(err.Error(), testToken) {
		t.Errorf("Error() = %v: want redacted and errors.Is the sentinel", err)
	}
	if r.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	ctx := NewContext(context.Background(), r)
	if FromContext(ctx) != r || FromContext(context.Background()) != nil {
		t.Error("FromContext does not return the Redactor put in")
	}
}

func TestWriterUnredacted(t *testing.T) {
	t.Parallel()
	r := New(testToken)
	var out bytes.Buffer
	outer := NewWriter(&out, r, nil)
	inner := NewWriter(outer, r, nil)
	_, _ = io.WriteString(inner, "before "+testToken+"\n"+"pending ")
	_, _ = io.WriteString(Unredacted(inner), "::add-mask::"+testToken+"\n")
	_, _ = io.WriteString(inner, testToken+"\n")
	_ = inner.Flush()
	_ = outer.Flush()
	want := "before " + Marker + "\npending ::add-mask::" + testToken + "\n" + Marker + "\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
