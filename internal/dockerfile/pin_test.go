package dockerfile

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

const (
	oldHex = "1111111111111111111111111111111111111111111111111111111111111111"
	newHex = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	httpd  = "registry.example.com/acme/httpd-base"
)

func TestPinEditsAndSkips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		image     string // default: httpd:latest@sha256:newHex
		wantEdits []Edit
		wantSkips []Skip
	}{
		{
			name:      "tag gets the digest",
			src:       "FROM " + httpd + ":latest AS a\n",
			wantEdits: []Edit{{Line: 1, Offset: 5, Old: httpd + ":latest", New: httpd + ":latest@sha256:" + newHex}},
		},
		{
			name:      "old digest is replaced",
			src:       "# c\nFROM " + httpd + ":latest@sha256:" + oldHex + "\n",
			wantEdits: []Edit{{Line: 2, Offset: 9, Old: httpd + ":latest@sha256:" + oldHex, New: httpd + ":latest@sha256:" + newHex}},
		},
		{
			name:      "another tag is skipped with the reason",
			src:       "FROM " + httpd + ":2.4\nCOPY --from=" + httpd + " / /\n",
			image:     httpd + ":2.5@sha256:" + newHex,
			wantSkips: []Skip{{Line: 1, Ref: httpd + ":2.4", Reason: "tag 2.4 is not the updated tag 2.5"}, {Line: 2, Ref: httpd, Reason: "tag latest is not the updated tag 2.5"}},
		},
		{
			name:      "an untagged update only moves digest-only pins",
			src:       "FROM " + httpd + "@sha256:" + oldHex + "\nFROM " + httpd + ":latest\n",
			image:     httpd + "@sha256:" + newHex,
			wantEdits: []Edit{{Line: 1, Offset: 5, Old: httpd + "@sha256:" + oldHex, New: httpd + "@sha256:" + newHex}},
			wantSkips: []Skip{{Line: 2, Ref: httpd + ":latest", Reason: "tag latest cannot be pinned to a digest of an untagged image"}},
		},
		{
			name: "other repositories are neither edited nor reported",
			src:  "FROM " + httpd + "-slim:latest\nFROM alpine\n",
		},
		{
			name:      "ARG default is edited, at its own line",
			src:       "ARG BASE=" + httpd + ":latest\nFROM ${BASE}\n",
			wantEdits: []Edit{{Line: 1, Offset: 9, Old: httpd + ":latest", New: httpd + ":latest@sha256:" + newHex}},
		},
		{
			name:      "ARG without default is skipped",
			src:       "ARG BASE\nFROM ${BASE}\n",
			wantSkips: []Skip{{Line: 2, Ref: "${BASE}", Reason: "ARG BASE has no default value"}},
		},
		{
			name:      "ARG holding only the tag: the digest goes in the FROM line",
			src:       "ARG TAG=latest\nFROM " + httpd + ":${TAG}\n",
			wantEdits: []Edit{{Line: 2, Offset: len("ARG TAG=latest\nFROM "), Old: httpd + ":${TAG}", New: httpd + ":${TAG}@sha256:" + newHex}},
		},
		{
			name: "ARG default shared with a reference that does not track",
			src:  "ARG BASE=" + httpd + ":latest\nFROM ${BASE}\nFROM ${BASE}-slim\n",
			wantSkips: []Skip{
				{Line: 2, Ref: httpd + ":latest", Reason: `its bytes are shared with "${BASE}-slim" on line 3, which would change too`},
				{Line: 3, Ref: httpd + ":latest-slim", Reason: "tag latest-slim is not the updated tag latest"},
			},
		},
		{
			name:      "ARG default shared with a FROM carrying its own digest",
			src:       "ARG BASE=" + httpd + ":latest\nFROM ${BASE}\nFROM ${BASE}@sha256:" + oldHex + "\n",
			wantEdits: []Edit{{Line: 3, Offset: len("ARG BASE=" + httpd + ":latest\nFROM ${BASE}\nFROM ${BASE}"), Old: "@sha256:" + oldHex, New: "@sha256:" + newHex}},
			wantSkips: []Skip{{Line: 2, Ref: httpd + ":latest", Reason: `its bytes are shared with "${BASE}@sha256:` + oldHex + `" on line 3, which would change too`}},
		},
		{
			name: "cascade:ignore on the line, above the instruction, above the reference line and above the ARG",
			src: "# cascade:ignore\nARG B=" + httpd + "\n" +
				"FROM " + httpd + " # cascade:ignore\n# cascade:ignore\nFROM " + httpd + "\nCOPY \\\n  # cascade:ignore\n  --from=" + httpd + " / /\n" +
				"FROM $B\n",
			wantSkips: []Skip{
				{Line: 3, Ref: httpd, Reason: ReasonIgnored},
				{Line: 5, Ref: httpd, Reason: ReasonIgnored},
				{Line: 6, Ref: httpd, Reason: ReasonIgnored},
				{Line: 9, Ref: httpd, Reason: ReasonIgnored},
			},
		},
		{
			name: "unresolved references are reported unless their repository is known and another",
			src:  "ARG V\nARG REG\nFROM golang:${V}\nFROM " + httpd + ":${V}\nFROM ${REG}/acme/httpd-base:latest\nFROM alpine-${TARGETARCH}\n",
			wantSkips: []Skip{
				{Line: 4, Ref: httpd + ":${V}", Reason: "ARG V has no default value"},
				{Line: 5, Ref: "${REG}/acme/httpd-base:latest", Reason: "ARG REG has no default value"},
				{Line: 6, Ref: "alpine-${TARGETARCH}", Reason: "TARGETARCH is set by the builder for each platform"},
			},
		},
		{
			name: "already on the new digest",
			src:  "FROM " + httpd + ":latest@sha256:" + newHex + "\n",
		},
		{
			name:      "a digest split over a continuation is skipped",
			src:       "FROM " + httpd + ":latest@sha256:" + oldHex[:10] + "\\\n" + oldHex[10:] + "\n",
			wantSkips: []Skip{{Line: 1, Ref: httpd + ":latest@sha256:" + oldHex, Reason: "the digest of the reference is not written in one piece"}},
		},
		{
			name:      "a reference split over a continuation gets the digest at its end",
			src:       "FROM " + httpd + ":la\\\ntest\n",
			wantEdits: []Edit{{Line: 2, Offset: len("FROM " + httpd + ":la\\\n"), Old: "test", New: "test@sha256:" + newHex}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			image := tt.image
			if image == "" {
				image = httpd + ":latest@sha256:" + newHex
			}
			_, edits, skips := checkPin(t, []byte(tt.src), imageref.MustParse(image))
			if diff := cmp.Diff(tt.wantEdits, edits); diff != "" {
				t.Errorf("edits mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSkips, skips); diff != "" {
				t.Errorf("skips mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPinCRLFAndBOMSurvive(t *testing.T) {
	t.Parallel()
	src := "\ufeffFROM " + httpd + ":latest\r\n# note\r\nRUN true"
	out, _, _ := checkPin(t, []byte(src), imageref.MustParse(httpd+":latest@sha256:"+newHex))
	want := "\ufeffFROM " + httpd + ":latest@sha256:" + newHex + "\r\n# note\r\nRUN true"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("output mismatch (-want +got):\n%s", diff)
	}
}

func TestPinErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		image imageref.Ref
		want  string
	}{
		{"no digest", "FROM alpine\n", imageref.MustParse("alpine:3"), "needs a digest"},
		{"zero image", "FROM alpine\n", imageref.Ref{}, "has no repository"},
		{"unparsable Dockerfile", "FROM\n", imageref.MustParse("alpine:3@sha256:" + newHex), "FROM needs an image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, edits, skips, err := Pin([]byte(tt.src), tt.image)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Pin error = %v, want one containing %q", err, tt.want)
			}
			if exitcode.Of(err) != exitcode.Invalid {
				t.Errorf("exit code = %d, want %d", exitcode.Of(err), exitcode.Invalid)
			}
			if out != nil || edits != nil || skips != nil {
				t.Errorf("Pin returned output with an error")
			}
		})
	}
}

// TestPinLargeFileIsLinear pins a 256 KiB Dockerfile with a reference on
// every line, a third of them through one shared ARG default: the work must
// stay roughly linear (a quadratic step takes minutes here).
func TestPinLargeFileIsLinear(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("ARG BASE=" + httpd + ":latest\n")
	for i := 0; b.Len() < 256<<10; i++ {
		switch i % 3 {
		case 0:
			b.WriteString("FROM " + httpd + ":latest AS s" + strconv.Itoa(i) + "\n")
		case 1:
			b.WriteString("COPY --from=s" + strconv.Itoa(i-1) + " --from=${BASE} / /\n")
		default:
			b.WriteString("FROM ${BASE}\n")
		}
	}
	start := time.Now()
	out, edits, _, err := Pin([]byte(b.String()), imageref.MustParse(httpd+":latest@sha256:"+newHex))
	if err != nil {
		t.Fatal(err)
	}
	if len(edits) < 2000 || len(out) <= b.Len() {
		t.Fatalf("want many edits and a larger output, got %d edits, %d bytes", len(edits), len(out))
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("Pin of a %d-byte file took %v", b.Len(), d)
	}
}
