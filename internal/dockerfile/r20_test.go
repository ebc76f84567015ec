package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

// TestR20_OnlyIntendedReferencesChange: each Dockerfile shape of row R20 —
// FROM --platform=$BUILDPLATFORM x AS b, an ARG-based FROM, an existing
// tag@sha, COPY --from=img, continuations, comments, CRLF — pins exactly
// the references that follow the updated image and leaves every other
// byte (other images, other tags, stage names, comments, line ends) alone.
func TestR20_OnlyIntendedReferencesChange(t *testing.T) {
	t.Parallel()
	const (
		base = "registry.example.com/acme/base"
		old  = "@sha256:1111111111111111111111111111111111111111111111111111111111111111"
		pin  = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	)
	u := imageref.MustParse(base + ":1.0" + pin)
	tests := []struct {
		name, src, want string
		edits           int
	}{{
		name:  "platform stage",
		src:   "FROM --platform=$BUILDPLATFORM " + base + ":1.0 AS b\nRUN make\nFROM b\n",
		want:  "FROM --platform=$BUILDPLATFORM " + base + ":1.0" + pin + " AS b\nRUN make\nFROM b\n",
		edits: 1,
	}, {
		name:  "ARG-based FROM",
		src:   "ARG BASE=" + base + ":1.0\nARG OTHER=" + base + ":2.0\nFROM ${BASE} AS build\nFROM $OTHER\n",
		want:  "ARG BASE=" + base + ":1.0" + pin + "\nARG OTHER=" + base + ":2.0\nFROM ${BASE} AS build\nFROM $OTHER\n",
		edits: 1,
	}, {
		name:  "existing tag@sha",
		src:   "FROM " + base + ":1.0" + old + "\n",
		want:  "FROM " + base + ":1.0" + pin + "\n",
		edits: 1,
	}, {
		name:  "COPY --from image, stage and index",
		src:   "FROM alpine:3 AS tools\nFROM " + base + ":1.0\nCOPY --from=tools /a /a\nCOPY --from=" + base + ":1.0 /b /b\nCOPY --from=0 /c /c\nCOPY --from=" + base + "-extra:1.0 /d /d\n",
		want:  "FROM alpine:3 AS tools\nFROM " + base + ":1.0" + pin + "\nCOPY --from=tools /a /a\nCOPY --from=" + base + ":1.0" + pin + " /b /b\nCOPY --from=0 /c /c\nCOPY --from=" + base + "-extra:1.0 /d /d\n",
		edits: 2,
	}, {
		name:  "continuations and comments",
		src:   "# based on " + base + ":1.0\nFROM \\\n  # the base\n  " + base + ":1.0 \\\n  AS b\nRUN echo " + base + ":1.0 && \\\n  true\n",
		want:  "# based on " + base + ":1.0\nFROM \\\n  # the base\n  " + base + ":1.0" + pin + " \\\n  AS b\nRUN echo " + base + ":1.0 && \\\n  true\n",
		edits: 1,
	}, {
		name:  "CRLF",
		src:   "FROM " + base + ":1.0 AS b\r\nRUN make\r\nFROM " + base + ":2.0\r\n",
		want:  "FROM " + base + ":1.0" + pin + " AS b\r\nRUN make\r\nFROM " + base + ":2.0\r\n",
		edits: 1,
	}, {
		name:  "other images and spellings untouched",
		src:   "FROM registry.example.com/acme/base-api:1.0\nFROM registry.example.com/acme/base_api:1.0\nFROM registry.example.com/acme/base:1.0-slim\nFROM other.example.com/acme/base:1.0\n",
		want:  "FROM registry.example.com/acme/base-api:1.0\nFROM registry.example.com/acme/base_api:1.0\nFROM registry.example.com/acme/base:1.0-slim\nFROM other.example.com/acme/base:1.0\n",
		edits: 0,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, edits, _ := checkPin(t, []byte(tt.src), u)
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("Pin (-want +got):\n%s", diff)
			}
			if len(edits) != tt.edits {
				t.Errorf("Pin made %d edits, want %d: %+v", len(edits), tt.edits, edits)
			}
			if strings.Count(string(out), "\r\n") != strings.Count(tt.src, "\r\n") {
				t.Errorf("line ends changed")
			}
		})
	}
}
