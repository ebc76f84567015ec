package manifests

import (
	"unicode/utf8"

	"github.com/imagecascade/cascade/internal/dockerfile"
	"github.com/imagecascade/cascade/internal/imageref"
)

// rewriteDockerfile pins FROM, COPY --from and RUN --mount=from= references
// and the syntax parser directive through package dockerfile, which
// verifies its own output.
func rewriteDockerfile(fr *FileResult, data []byte, image imageref.Ref) error {
	updated, edits, skips, err := dockerfile.Pin(data, image)
	for _, s := range skips {
		fr.Skipped = append(fr.Skipped, Skip{Line: s.Line, Field: dockerfileField(s.Field), Ref: s.Ref, Reason: s.Reason})
	}
	if err != nil {
		return err
	}
	fr.updated = updated
	if len(edits) == 0 {
		return nil
	}
	o := ObjectResult{Kind: "Dockerfile"}
	for _, e := range edits {
		o.Changes = append(o.Changes, Change{Line: e.Line, Column: columnAt(data, e.Offset), Field: dockerfileField(e.Field), Old: e.Old, New: e.New})
	}
	fr.Objects = []ObjectResult{o}
	return nil
}

// dockerfileField is the report's field for a Dockerfile edit or skip:
// "# syntax" for the syntax parser directive (the BuildKit frontend
// image), "FROM" for the bases (FROM, COPY --from, RUN --mount from=).
func dockerfileField(f string) string {
	if f == "syntax" {
		return "# syntax"
	}
	return "FROM"
}

// columnAt is the 1-based character column of byte offset off.
func columnAt(src []byte, off int) int {
	if off > len(src) {
		off = len(src)
	}
	start := off
	for start > 0 && src[start-1] != '\n' && src[start-1] != '\r' {
		start--
	}
	return utf8.RuneCount(src[start:off]) + 1
}
