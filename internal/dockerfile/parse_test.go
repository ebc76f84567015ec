package dockerfile

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// from is a FROM base of stage 0 named on line 1, the commonest case.
func from(line int, raw, ref string) Base {
	return Base{Raw: raw, Ref: ref, Line: line, Kind: KindFrom}
}

func TestParseBases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		args map[string]string
		want []Base
	}{
		{
			name: "plain FROM",
			src:  "FROM alpine:3.19\nRUN true\n",
			want: []Base{from(1, "alpine:3.19", "alpine:3.19")},
		},
		{
			name: "R20 platform flag and stage name, later FROM of the stage is no base",
			src:  "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nRUN go build\nFROM b\nFROM B AS c\n",
			want: []Base{{Raw: "golang:1.22", Ref: "golang:1.22", Line: 1, Kind: KindFrom, StageName: "b", Platform: "$BUILDPLATFORM"}},
		},
		{
			name: "keywords and AS in any case",
			src:  "from alpine As Build\nfRoM build\n",
			want: []Base{{Raw: "alpine", Ref: "alpine", Line: 1, Kind: KindFrom, StageName: "Build"}},
		},
		{
			name: "scratch is no base",
			src:  "FROM scratch\nCOPY x /\n",
		},
		{
			name: "a FROM naming a later stage is a base",
			src:  "FROM later\nFROM alpine AS later\n",
			want: []Base{from(1, "later", "later"), {Raw: "alpine", Ref: "alpine", Line: 2, Kind: KindFrom, Stage: 1, StageName: "later"}},
		},
		{
			name: "R20 ARG-based FROM in every expansion form",
			src: "ARG BASE=alpine\nARG TAG=3.19\nARG EMPTY=\nARG UNSET\n" +
				"FROM $BASE\nFROM ${BASE}:${TAG}\nFROM ${UNSET:-busybox}\nFROM ${EMPTY:-debian}\nFROM ${EMPTY-x}ubuntu\n" +
				"FROM ${TAG:+nginx}\nFROM ${UNSET:+nope}centos\nFROM \"${BASE}\"\nFROM '${BASE}'\n",
			want: []Base{
				{Raw: "$BASE", Ref: "alpine", Line: 5, Kind: KindFrom},
				{Raw: "${BASE}:${TAG}", Ref: "alpine:3.19", Line: 6, Kind: KindFrom, Stage: 1},
				{Raw: "${UNSET:-busybox}", Ref: "busybox", Line: 7, Kind: KindFrom, Stage: 2},
				{Raw: "${EMPTY:-debian}", Ref: "debian", Line: 8, Kind: KindFrom, Stage: 3},
				{Raw: "${EMPTY-x}ubuntu", Ref: "ubuntu", Line: 9, Kind: KindFrom, Stage: 4},
				{Raw: "${TAG:+nginx}", Ref: "nginx", Line: 10, Kind: KindFrom, Stage: 5},
				{Raw: "${UNSET:+nope}centos", Ref: "centos", Line: 11, Kind: KindFrom, Stage: 6},
				{Raw: `"${BASE}"`, Ref: "alpine", Line: 12, Kind: KindFrom, Stage: 7},
				{Raw: "'${BASE}'", Ref: "${BASE}", Line: 13, Kind: KindFrom, Stage: 8},
			},
		},
		{
			name: "ARG defaults use earlier ARGs",
			src:  "ARG REG=registry.example.com\nARG BASE=${REG}/acme/httpd-base:latest\nFROM ${BASE}\n",
			want: []Base{from(3, "${BASE}", "registry.example.com/acme/httpd-base:latest")},
		},
		{
			name: "build args override defaults",
			src:  "ARG BASE=alpine\nARG TAG\nFROM ${BASE}:${TAG}\n",
			args: map[string]string{"BASE": "debian", "TAG": "12", "UNDECLARED": "x"},
			want: []Base{from(3, "${BASE}:${TAG}", "debian:12")},
		},
		{
			name: "an ARG without a value leaves the base unresolved",
			src:  "ARG BASE\nFROM ${BASE}:7\n",
			want: []Base{{Raw: "${BASE}:7", Ref: ":7", Line: 2, Kind: KindFrom, Unresolved: "ARG BASE has no default value"}},
		},
		{
			name: "an undeclared variable leaves the base unresolved",
			src:  "FROM ${NOPE}\n",
			want: []Base{{Raw: "${NOPE}", Line: 1, Kind: KindFrom, Unresolved: "NOPE is not a declared ARG"}},
		},
		{
			name: "platform arguments come from the builder",
			src:  "FROM alpine-${TARGETARCH}\n",
			want: []Base{{Raw: "alpine-${TARGETARCH}", Ref: "alpine-", Line: 1, Kind: KindFrom, Unresolved: "TARGETARCH is set by the builder for each platform"}},
		},
		{
			name: "platform arguments given as build args",
			src:  "FROM alpine-${TARGETARCH}\n",
			args: map[string]string{"TARGETARCH": "arm64"},
			want: []Base{from(1, "alpine-${TARGETARCH}", "alpine-arm64")},
		},
		{
			name: "stage ARGs are not visible in FROM",
			src:  "FROM alpine\nARG LATER=debian\nFROM ${LATER}\n",
			want: []Base{from(1, "alpine", "alpine"), {Raw: "${LATER}", Line: 3, Kind: KindFrom, Stage: 1, Unresolved: "LATER is not a declared ARG"}},
		},
		{
			name: "R20 COPY --from an image, a stage by name or by index",
			src: "FROM golang:1.22 AS build\nFROM alpine\nCOPY --from=build /a /a\nCOPY --from=BUILD /a /a\nCOPY --from=0 /a /a\n" +
				"COPY --link --from=nginx:1.25 /etc/nginx /etc/nginx\nADD --from=ignored x y\nCOPY --from=later /x /x\nFROM busybox AS later\n",
			want: []Base{
				{Raw: "golang:1.22", Ref: "golang:1.22", Line: 1, Kind: KindFrom, StageName: "build"},
				{Raw: "alpine", Ref: "alpine", Line: 2, Kind: KindFrom, Stage: 1},
				{Raw: "nginx:1.25", Ref: "nginx:1.25", Line: 6, Kind: KindCopyFrom, Stage: 1},
				{Raw: "busybox", Ref: "busybox", Line: 9, Kind: KindFrom, Stage: 2, StageName: "later"},
			},
		},
		{
			name: "COPY --from expands stage ARGs, which may take the global default",
			src:  "ARG IMG=nginx:1.25\nFROM alpine\nARG IMG\nARG OTHER=busybox\nCOPY --from=${IMG} / /\nCOPY --from=$OTHER / /\n",
			want: []Base{
				from(2, "alpine", "alpine"),
				{Raw: "${IMG}", Ref: "nginx:1.25", Line: 5, Kind: KindCopyFrom},
				{Raw: "$OTHER", Ref: "busybox", Line: 6, Kind: KindCopyFrom},
			},
		},
		{
			name: "RUN --mount from an image or a stage",
			src: "FROM alpine AS base\nRUN --mount=type=bind,from=nginx:1.25,target=/n \\\n  --mount=type=cache,target=/c \\\n" +
				"  --mount=type=bind,FROM=base,target=/b --network=none make\nRUN echo --mount=from=notaflag\n",
			want: []Base{
				{Raw: "alpine", Ref: "alpine", Line: 1, Kind: KindFrom, StageName: "base"},
				{Raw: "nginx:1.25", Ref: "nginx:1.25", Line: 2, Kind: KindMountFrom, StageName: "base"},
			},
		},
		{
			name: "continuations with comment and blank lines inside",
			src:  "FROM \\\n# a comment\n\n   \t\n  alpine:3 \\\n  # another\n  AS x\nRUN a \\\n  b\nFROM x\n",
			want: []Base{{Raw: "alpine:3", Ref: "alpine:3", Line: 1, Kind: KindFrom, StageName: "x"}},
		},
		{
			name: "a continuation may split a word and may trail blanks",
			src:  "FROM alp\\   \nine\n",
			want: []Base{from(1, "alpine", "alpine")},
		},
		{
			name: "comments are not instructions",
			src:  "# FROM commented\n   # FROM indented comment\nFROM alpine\n",
			want: []Base{from(3, "alpine", "alpine")},
		},
		{
			name: "R20 CRLF line endings",
			src:  "ARG B=alpine\r\nFROM ${B} AS a\r\nFROM \\\r\n  debian\r\n",
			want: []Base{{Raw: "${B}", Ref: "alpine", Line: 2, Kind: KindFrom, StageName: "a"}, {Raw: "debian", Ref: "debian", Line: 3, Kind: KindFrom, Stage: 1}},
		},
		{
			name: "UTF-8 BOM",
			src:  "\ufeffFROM alpine\n",
			want: []Base{from(1, "alpine", "alpine")},
		},
		{
			name: "escape directive with backtick",
			src:  "# syntax=docker/dockerfile:1\n# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n  AS w\nRUN dir C:\\\nFROM w\n",
			want: []Base{{Raw: "mcr.microsoft.com/windows/servercore:ltsc2022", Ref: "mcr.microsoft.com/windows/servercore:ltsc2022", Line: 3, Kind: KindFrom, StageName: "w"}},
		},
		{
			name: "directives end at the first other line",
			src:  "# syntax=docker/dockerfile:1\n\n# escape=`\nFROM alpine \\\n  AS a\n",
			want: []Base{{Raw: "alpine", Ref: "alpine", Line: 4, Kind: KindFrom, StageName: "a"}},
		},
		{
			name: "an unknown directive ends directives",
			src:  "# foo=bar\n# escape=`\nFROM alpine \\\n  AS a\n",
			want: []Base{{Raw: "alpine", Ref: "alpine", Line: 3, Kind: KindFrom, StageName: "a"}},
		},
		{
			name: "heredoc bodies are never instructions",
			src: "FROM alpine\nRUN <<EOF\nFROM evil:1\nEOF\nCOPY <<-EOT /x\n\tFROM evil:2\n\tEOT\nRUN <<\"A\" 3<<'B' cat\nFROM evil:3\nA\nFROM evil:4\nB\n" +
				"RUN cat <<EOF > /f\nEOF2\nFROM evil:5\nEOF\nFROM debian\n",
			want: []Base{from(1, "alpine", "alpine"), {Raw: "debian", Ref: "debian", Line: 17, Kind: KindFrom, Stage: 1}},
		},
		{
			name: "an unterminated heredoc runs to the end",
			src:  "FROM alpine\nRUN <<EOF\nFROM evil\n",
			want: []Base{from(1, "alpine", "alpine")},
		},
		{
			name: "here-strings and heredocs in other instructions are not heredocs",
			src:  "FROM alpine\nENV X <<EOF\nFROM debian\n",
			want: []Base{from(1, "alpine", "alpine"), {Raw: "debian", Ref: "debian", Line: 3, Kind: KindFrom, Stage: 1}},
		},
		{
			name: "unknown instructions and instructions before FROM are ignored",
			src:  "FOO bar\nCOPY --from=nginx / /\nFROM alpine\nBAR --from=nginx\nONBUILD COPY --from=nginx / /\n",
			want: []Base{from(3, "alpine", "alpine")},
		},
		{
			name: "escaped characters",
			src:  "FROM alp\\ine\nFROM \\$NOTVAR\n",
			want: []Base{from(1, `alp\ine`, "alpine"), {Raw: `\$NOTVAR`, Ref: "$NOTVAR", Line: 2, Kind: KindFrom, Stage: 1}},
		},
		{
			name: "empty file",
			src:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse([]byte(tt.src), ParseOptions{BuildArgs: tt.args})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, f.Bases); diff != "" {
				t.Errorf("Bases mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStagesAndArgs(t *testing.T) {
	t.Parallel()
	src := "ARG BASE=alpine:3\nARG TAG\nARG A=1 B=\"two words\"\nFROM --platform=linux/arm64 ${BASE} AS Build\nARG INSTAGE=x\nFROM build\nFROM scratch\n"
	f, err := Parse([]byte(src), ParseOptions{BuildArgs: map[string]string{"TAG": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	wantStages := []Stage{
		{Index: 0, Name: "Build", Line: 4, Raw: "${BASE}", Ref: "alpine:3", Platform: "linux/arm64", FromStage: -1},
		{Index: 1, Line: 6, Raw: "build", Ref: "build", FromStage: 0},
		{Index: 2, Line: 7, Raw: "scratch", Ref: "scratch", FromStage: -1},
	}
	if diff := cmp.Diff(wantStages, f.Stages); diff != "" {
		t.Errorf("Stages mismatch (-want +got):\n%s", diff)
	}
	wantArgs := []Arg{
		{Name: "BASE", Default: "alpine:3", HasDefault: true, Value: "alpine:3", Set: true, Line: 1},
		{Name: "TAG", Value: "7", Set: true, Line: 2},
		{Name: "A", Default: "1", HasDefault: true, Value: "1", Set: true, Line: 3},
		{Name: "B", Default: `"two words"`, HasDefault: true, Value: "two words", Set: true, Line: 3},
	}
	if diff := cmp.Diff(wantArgs, f.Args); diff != "" {
		t.Errorf("Args mismatch (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
	}{
		{"FROM without image", "ARG X=1\n\nFROM\n", "line 3: FROM needs an image"},
		{"FROM with only flags", "FROM --platform=linux/amd64 \\\n\n", "line 1: FROM needs an image"},
		{"invalid escape directive", "# escape=x\nFROM alpine\n", `line 1: invalid escape directive "x"`},
		{"too large", "FROM alpine\n" + strings.Repeat("#", MaxSize), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.src), ParseOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.want)
			}
			if got := exitcode.Of(err); got != exitcode.Invalid {
				t.Errorf("exit code = %d, want %d (invalid input)", got, exitcode.Invalid)
			}
			var ee *exitcode.Error
			if !errors.As(err, &ee) {
				t.Errorf("error %v does not wrap *exitcode.Error", err)
			}
		})
	}
}

// TestParseHostileExpansion checks expansion stays bounded when ARG defaults
// double at each declaration.
func TestParseHostileExpansion(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("ARG A0=xxxxxxxxxxxxxxxx\n")
	for i := 1; i < 64; i++ {
		b.WriteString("ARG A" + strconv.Itoa(i) + "=${A" + strconv.Itoa(i-1) + "}${A" + strconv.Itoa(i-1) + "}\n")
	}
	b.WriteString("FROM ${A63}\nFROM " + strings.Repeat("${X:-", 100) + "alpine" + strings.Repeat("}", 100) + "\n")
	f, err := Parse([]byte(b.String()), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Bases) != 2 || f.Bases[0].Unresolved == "" || f.Bases[1].Unresolved == "" {
		t.Fatalf("want two unresolved bases, got %+v", f.Bases)
	}
}
