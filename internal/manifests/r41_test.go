package manifests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// utf16 encodes ASCII s as UTF-16 in the given byte order, with or
// without a byte order mark.
func utf16(s string, bigEndian, bom bool) string {
	var b []byte
	if bom {
		if bigEndian {
			b = append(b, 0xfe, 0xff)
		} else {
			b = append(b, 0xff, 0xfe)
		}
	}
	for i := 0; i < len(s); i++ {
		if bigEndian {
			b = append(b, 0, s[i])
		} else {
			b = append(b, s[i], 0)
		}
	}
	return string(b)
}

// TestR41_OddFileInDefaultSetIsSkipped: in the default file set a YAML file
// that mentions the updated image but cannot be read as a manifest — a
// duplicate key (which GitLab CI accepts), a Latin-1 byte, UTF-16 with or
// without a byte order mark, more documents than the parse limit — is
// skipped and reported with its reason, the other files are pinned and the
// exit code stays 0. Selected explicitly, the same file is refused (exit
// code 2) before anything is written.
func TestR41_OddFileInDefaultSetIsSkipped(t *testing.T) {
	t.Parallel()
	const img = "registry.example.com/acme/app:1.0"
	tests := []struct {
		name, file, content, reason string
	}{
		{
			name:    "duplicate key",
			file:    ".gitlab-ci.yml",
			content: "build:\n  image: " + img + "\n  script: [make]\nbuild:\n  image: " + img + "\n",
			reason:  `not parsed: refused to parse: document 1: line 4: key "build" already defined at line 1`,
		},
		{
			name:    "latin-1 byte in a comment",
			file:    "deploy/pod.yaml",
			content: "# caf\xe9\n" + podYAML,
			reason:  "not parsed: refused to parse: not UTF-8 (byte 0xE9 on line 1; a Latin-1 or other 8-bit encoding?)",
		},
		{
			name:    "UTF-16 little endian with BOM",
			file:    "utf16le-bom.yaml",
			content: utf16(podYAML, false, true),
			reason:  "not parsed: refused to parse: encoded as UTF-16 (little endian); cascade reads only UTF-8",
		},
		{
			name:    "UTF-16 big endian with BOM",
			file:    "utf16be-bom.yaml",
			content: utf16(podYAML, true, true),
			reason:  "not parsed: refused to parse: encoded as UTF-16 (big endian); cascade reads only UTF-8",
		},
		{
			name:    "UTF-16 little endian without BOM",
			file:    "utf16le.yaml",
			content: utf16(podYAML, false, false),
			reason:  "not parsed: refused to parse: encoded as UTF-16 (little endian); cascade reads only UTF-8",
		},
		{
			name:    "UTF-16 big endian without BOM",
			file:    "utf16be.yaml",
			content: utf16(podYAML, true, false),
			reason:  "not parsed: refused to parse: encoded as UTF-16 (big endian); cascade reads only UTF-8",
		},
		{
			name:    "a bundle of more documents than the limit",
			file:    "crds/bundle.yaml",
			content: strings.Repeat("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", DefaultMaxDocuments) + "---\n" + podYAML,
			reason:  "not parsed: refused to parse: more than 1000 documents",
		},
	}
	pinnedPod := strings.Replace(podYAML, img, img+"@"+newDigest, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			writeFiles(t, ws, map[string]string{tt.file: tt.content, "ok/pod.yaml": podYAML})
			res, err := Update(context.Background(), testOptions(ws))
			if err != nil {
				t.Fatal(err)
			}
			if got := exitcode.Of(res.Err()); got != exitcode.OK {
				t.Errorf("exit code %d (%v), want 0", got, res.Err())
			}
			if diff := cmp.Diff([]string{"ok/pod.yaml"}, res.Changed()); diff != "" {
				t.Errorf("Changed (-want +got):\n%s", diff)
			}
			var got []Skip
			for _, f := range res.Files {
				if f.Path == tt.file {
					got = f.Skipped
				}
			}
			if diff := cmp.Diff([]Skip{{Reason: tt.reason}}, got); diff != "" {
				t.Errorf("Skipped of %s (-want +got):\n%s", tt.file, diff)
			}
			assertFile(t, ws, "ok/pod.yaml", pinnedPod)
			assertFile(t, ws, tt.file, tt.content)

			// Selected explicitly: refused, and nothing written.
			ws = t.TempDir()
			writeFiles(t, ws, map[string]string{tt.file: tt.content, "ok/pod.yaml": podYAML})
			opts := testOptions(ws)
			opts.Paths = []string{"**/*.yaml", "**/*.yml"}
			res, err = Update(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := exitcode.Of(res.Err()); got != exitcode.Invalid {
				t.Errorf("selected: exit code %d (%v), want 2", got, res.Err())
			}
			if res.NotWritten == "" {
				t.Errorf("selected: NotWritten is empty")
			}
			assertFile(t, ws, "ok/pod.yaml", podYAML)
			assertFile(t, ws, tt.file, tt.content)
		})
	}
}

func assertFile(t *testing.T, ws, name, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(ws, name))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is\n%q\nwant\n%q", name, got, want)
	}
}
