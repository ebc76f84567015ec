package dockerfile

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// composeFragments are pieces of Dockerfile syntax around the fuzz images;
// TestPinComposed strings random sequences of them together, which reaches
// combinations (shared ARGs, quotes, continuations inside references,
// heredocs, markers) that byte-level fuzzing rarely builds.
var composeArgs = []string{
	"ARG BASE=registry.example.com/acme/httpd-base:latest\n",
	"ARG BASE=\"alpine:3\"\n",
	"ARG BASE\n",
	"ARG REG=registry.example.com\n",
	"ARG TAG=latest\n",
	"ARG D=@sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
	"ARG NG='nginx'\n",
	"# cascade:ignore\n",
	"ARG VARIANT=latest\n",
	"ARG H=\"@sha256:1111111111111111111111111111111111111111111111111111111111111111\"\n",
	"ARG sha=sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
}

var composeFragments = []string{
	"ARG NG\n",
	"FROM ${BASE}\n",
	"FROM registry.example.com/acme/httpd-base:${VARIANT}\n",
	"FROM registry.example.com/acme/httpd-base:${VARIANT}${H}\n",
	"FROM registry.example.com/acme/httpd-base@$sha\n",
	"RUN echo $sha\n",
	"FROM $BASE AS b\n",
	"FROM ${BASE}-slim\n",
	"FROM ${BASE}${D}\n",
	"FROM ${REG}/acme/httpd-base:${TAG}\n",
	"FROM ${REG}/acme/httpd-base\n",
	"FROM ${UNSET:-alpine:3}\n",
	"FROM ${BASE:-nginx}\n",
	"FROM ${BASE:+alpine}:3\n",
	"FROM \"$NG\"\n",
	"FROM registry.example.com/acme/httpd-base:latest@sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
	"FROM registry.example.com/acme/httpd-base:lat\\\nest AS c\n",
	"FROM alp\\\n# c\n\nine:3\n",
	"FROM localhost:5000/app AS app\n",
	"FROM nginx@sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
	"FROM b\n",
	"from 'alpine:3' as B\n",
	"COPY --from=${BASE} / /\n",
	"COPY --from=nginx / /\n",
	"COPY --from=b / /\n",
	"COPY --from=\"alpine:3\" / /\n",
	"RUN --mount=type=bind,from=${NG},target=/x true\n",
	"RUN --mount=from=localhost:5000/app true\n",
	"RUN <<EOF\nFROM nginx\nEOF\n",
	"COPY <<-X /f\n\tFROM alpine:3\n\tX\n",
	"# cascade:ignore\n",
	"# a comment\n",
	"\n",
	"\r\n",
	"RUN a \\\n  b\n",
	"LABEL x=$BASE\n",
}

func TestPinComposed(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	edits, skips := 0, 0
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		if rng.IntN(8) == 0 {
			b.WriteString("# escape=`\n")
		}
		if rng.IntN(6) == 0 {
			b.WriteString("# syntax=registry.example.com/acme/httpd-base:latest\n")
		}
		for j := rng.IntN(5); j > 0; j-- {
			b.WriteString(composeArgs[rng.IntN(len(composeArgs))])
		}
		n := 1 + rng.IntN(10)
		for j := 0; j < n; j++ {
			b.WriteString(composeFragments[rng.IntN(len(composeFragments))])
		}
		src := []byte(b.String())
		if strings.HasPrefix(b.String(), "# escape=`") {
			src = []byte(strings.ReplaceAll(b.String(), "\\\n", "`\n"))
		}
		if _, err := Parse(src, ParseOptions{}); err != nil {
			t.Fatalf("composed Dockerfile does not parse: %v\n%s", err, src)
		}
		for _, u := range fuzzImages {
			_, e, s := checkPin(t, src, u)
			edits += len(e)
			skips += len(s)
		}
	}
	if edits < 1000 || skips < 1000 {
		t.Errorf("the composed inputs made only %d edits and %d skips: the generator lost its reach", edits, skips)
	}
	t.Logf("%d edits, %d skips", edits, skips)
}
