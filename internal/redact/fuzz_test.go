package redact

import (
	"strings"
	"testing"
)

// FuzzRedact feeds random secrets, in every encoding a server may echo
// (and inside longer base64 runs at every alignment), through a Redactor
// and a Writer, and asserts that neither the secret nor its encoded form
// survives.
func FuzzRedact(f *testing.F) {
	f.Add("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "x-access-token", "before ", " after", uint8(0), uint8(0))
	f.Add("p@ss/w+rd=?&", "robot$acme", "{\"auth\":\"", "\"}", uint8(14), uint8(1))
	f.Add("s3cr\u00e9t\x00\xff", "u", "", "", uint8(5), uint8(2))
	f.Add("short", "", "::", "\n", uint8(9), uint8(3))
	f.Fuzz(func(t *testing.T, secret, user, pre, post string, which, align uint8) {
		if len(secret) < MinSecretLen || len(secret) > 256 || len(user) > 64 || len(pre) > 256 || len(post) > 256 ||
			strings.ContainsAny(secret+user, "[]\n\r:") || strings.Contains(Marker, secret) {
			// Brackets could rebuild the marker around a secret; a secret
			// inside the marker cannot be told from it; line breaks split
			// a secret into lines (tested apart); ":" ends the user name.
			t.Skip()
		}
		r := New()
		r.AddUserPassword(user, secret)
		e := encodings[int(which)%len(encodings)]
		form := e.enc(secret, user)
		check := func(sink, got string) {
			t.Helper()
			if strings.Contains(got, secret) || strings.Contains(got, form) {
				t.Fatalf("%s, %s: %q survives in %q", sink, e.name, secret, got)
			}
		}
		text := pre + form + post
		check("String", r.String(text))
		var out strings.Builder
		w := NewWriter(&out, r, nil)
		for i := 0; i < len(text); i += 7 {
			_, _ = w.Write([]byte(text[i:min(i+7, len(text))]))
		}
		_ = w.Flush()
		check("Writer", out.String())
		if len(secret) >= MinEmbeddedLen {
			emb := embedded[int(which)%len(embedded)]
			filler := strings.Repeat("x", int(align)%3) + pre
			blob := emb.enc(filler, secret, post)
			got := r.String("data " + blob + " end")
			for _, c := range embeddedCores(secret) {
				if strings.Contains(got, c) {
					t.Fatalf("embedded %s at %d: %q survives in %q", emb.name, len(filler)%3, c, got)
				}
			}
		}
	})
}
