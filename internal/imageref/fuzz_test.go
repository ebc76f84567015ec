package imageref

import (
	"errors"
	"testing"
)

// checkParseRef is FuzzParseRef's invariant, shared with the R29 corpus
// test: Parse never panics; what it accepts prints (String) to a reference
// that parses back to the same name, tag and digest, and prints the same
// again; what it refuses wraps ErrInvalid.
func checkParseRef(t *testing.T, s string) {
	t.Helper()
	r, err := Parse(s)
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Parse(%q) error does not wrap ErrInvalid: %v", s, err)
		}
		return
	}
	if r.Original != s {
		t.Fatalf("Parse(%q).Original = %q", s, r.Original)
	}
	if r.Registry == "" || r.Repository == "" || r.WrittenName == "" {
		t.Fatalf("Parse(%q) accepted with an empty part: %+v", s, r)
	}
	printed := r.String()
	again, err := Parse(printed)
	if err != nil {
		t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, printed, err)
	}
	if again.Name() != r.Name() || again.Tag != r.Tag || again.Digest != r.Digest {
		t.Fatalf("Parse(%q) = %s %q %q, but its String() %q parses to %s %q %q",
			s, r.Name(), r.Tag, r.Digest, printed, again.Name(), again.Tag, again.Digest)
	}
	if again.String() != printed {
		t.Fatalf("String() is not stable: %q then %q", printed, again.String())
	}
	if !again.SameRepository(r) {
		t.Fatalf("%q and its String() %q are not the same repository", s, printed)
	}
	if r.Digest != "" {
		if _, err := ParseDigest(string(r.Digest)); err != nil {
			t.Fatalf("Parse(%q) accepted digest %q that ParseDigest refuses: %v", s, r.Digest, err)
		}
	}
}

// FuzzParseRef (R29): reference parsing never panics, round-trips through
// String, and refuses only with ErrInvalid. Seeds are in
// testdata/fuzz/FuzzParseRef; crashers found later are committed there too.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"nginx", "library/nginx:1.25", "docker.io/library/nginx", "index.docker.io/library/nginx",
		"host:5000/app:v1", "localhost/app", "[::1]:5000/a/b", "127.0.0.1:5000/shifts_api",
		"Registry.Example.com/acme/app-a:latest@sha256:" + hexA,
		"quay.io/centos/centos@sha256:" + hexB,
		"repo:sha256:" + hexA, "app@sha256:" + hexA[:63], "app@md5:abc", "app@sha256:::" + hexA,
	} {
		f.Add(s)
	}
	f.Fuzz(checkParseRef)
}
