package manifests

import (
	"fmt"
	"path"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/imageref"
)

// isKustomizationFile reports whether the file name is one kustomize reads.
func isKustomizationFile(p string) bool {
	switch path.Base(p) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

// kustomization pins the entries of images: whose effective name (newName
// when set, else name) is the updated repository. kustomize matches an entry
// by name and writes newName (else the image's name), then ":newTag" and
// "@digest" when given (either one replaces both the image's tag and
// digest):
//
//   - with newTag equal to the updated tag, or without newTag but with a
//     digest (a digest-only pin), digest is set to the new digest;
//   - an entry without a digest key gets one line "digest: sha256:…" after
//     its last key, with the entry's indentation (the only insertion cascade
//     makes); in a flow mapping it is reported instead;
//   - newTag holding a digest too ("11@sha256:old") is the tag before the
//     "@": when it is the updated tag, the digest in newTag moves;
//   - newName holding a whole reference (REPO:TAG or REPO:TAG@old), with
//     neither newTag nor digest, is pinned like an image field;
//   - without newTag and digest the workloads' own tags decide, which
//     cascade cannot see here: reported, not pinned; another newTag too; a
//     name holding a tag ("postgres:11") too, since a digest set on that
//     entry would drop the tag.
//
// Every entry of the updated repository that is not pinned is reported.
func (r *rewriter) kustomization(root *yaml.Node) {
	o := &ObjectResult{Kind: "Kustomization", Name: scalarValue(mapGet(root, "metadata"), "name")}
	defer r.addObject(o)
	images := mapGet(root, "images")
	if images == nil || images.Kind != yaml.SequenceNode {
		return
	}
	for i, e := range images.Content {
		if e.Kind == yaml.MappingNode {
			r.kustomizeEntry(o, i, e)
		}
	}
}

// kustomizeEntry pins or reports entry i of a kustomization's images.
func (r *rewriter) kustomizeEntry(o *ObjectResult, i int, e *yaml.Node) {
	name, newName, newTag, dig := mapGet(e, "name"), mapGet(e, "newName"), mapGet(e, "newTag"), mapGet(e, "digest")
	if name == nil || name.Kind != yaml.ScalarNode {
		return
	}
	field := fmt.Sprintf("images[%d].digest", i)
	src, srcField := name, fmt.Sprintf("images[%d].name", i)
	if newName != nil && newName.Kind == yaml.ScalarNode && newName.Value != "" {
		src, srcField = newName, fmt.Sprintf("images[%d].newName", i)
	}
	ref, err := imageref.Parse(src.Value)
	if err != nil {
		if reason := r.malformed(src.Value); reason != "" {
			r.skip(src, srcField, src.Value, reason)
		}
		return
	}
	if !ref.SameRepository(r.image) {
		return
	}
	repo := src.Value
	if r.ignored(name, newName, newTag, dig) {
		shown := repo
		if newTag != nil && newTag.Kind == yaml.ScalarNode && newTag.Value != "" {
			shown += ":" + newTag.Value
		}
		r.skip(name, field, shown, "marked "+ignoreMarker)
		return
	}
	if ref.Tag != "" || ref.Digest != "" {
		r.kustomizeWholeRef(o, src, srcField, ref, newTag, dig)
		return
	}
	var tag string
	if newTag != nil {
		if newTag.Kind != yaml.ScalarNode {
			return
		}
		tag = newTag.Value
	}
	if dig != nil && dig.Kind != yaml.ScalarNode {
		r.skip(dig, field, repo, "digest is not a plain value; not rewritten")
		return
	}
	shown := repo
	if tag != "" {
		shown += ":" + tag
	}
	if t, d, ok := strings.Cut(tag, "@"); ok {
		// newTag holds a digest as well: kustomize writes it as given.
		tagField := fmt.Sprintf("images[%d].newTag", i)
		switch {
		case t != r.image.Tag:
			r.skip(newTag, tagField, shown, fmt.Sprintf("newTag %q is not the updated tag %q", t, r.image.Tag))
		case dig != nil:
			r.skip(newTag, tagField, shown, "newTag holds a digest and the entry has a digest key too; not pinned")
		default:
			_ = d // an old digest, even a malformed one, is replaced
			r.setScalar(o, tagField, newTag, t+"@"+string(r.image.Digest))
		}
		return
	}
	switch {
	case tag != "" && tag != r.image.Tag:
		r.skip(newTag, field, shown, fmt.Sprintf("newTag %q is not the updated tag %q", tag, r.image.Tag))
		return
	case tag == "" && (dig == nil || dig.Value == ""):
		r.skip(name, field, shown, "no newTag: the workloads' tags decide; not pinned")
		return
	}
	d := string(r.image.Digest)
	if dig != nil {
		r.setScalar(o, field, dig, d)
		return
	}
	r.insertDigest(o, field, e, shown)
}

// kustomizeWholeRef handles an entry whose name or newName (src) holds a
// whole reference of the updated repository, with a tag or a digest.
func (r *rewriter) kustomizeWholeRef(o *ObjectResult, src *yaml.Node, field string, ref imageref.Ref, newTag, dig *yaml.Node) {
	switch {
	case strings.HasSuffix(field, ".name"):
		if ref.Tag != "" && ref.Tag != r.image.Tag {
			r.skip(src, field, src.Value, fmt.Sprintf("tag %q is not the updated tag %q", ref.Tag, r.image.Tag))
			return
		}
		r.skip(src, field, src.Value, "name holds a tag or digest: the entry only matches images written so, and a digest set on it would replace their tag (kustomize writes REPO@digest); not pinned")
	case newTag != nil || dig != nil:
		r.skip(src, field, src.Value, "newName holds a whole reference and the entry has newTag or digest too, which kustomize would append to it; not pinned")
	default:
		value, reason := pinned(ref, r.image)
		if reason != "" {
			r.skip(src, field, src.Value, reason)
			return
		}
		r.setScalar(o, field, src, value)
	}
}

// insertDigest adds "digest: D" as a new line after the last key of a
// block mapping entry.
func (r *rewriter) insertDigest(o *ObjectResult, field string, e *yaml.Node, shown string) {
	d := string(r.image.Digest)
	last := e.Content[len(e.Content)-1]
	if e.Style&yaml.FlowStyle != 0 || last.Kind != yaml.ScalarNode {
		r.skip(e, field, shown, "entry has no digest key and is not a block mapping of plain values; digest not inserted")
		return
	}
	sp, err := r.x.locate(last)
	if err != nil {
		r.skip(e, field, shown, "entry has no digest key and its last value "+err.Error()+"; digest not inserted")
		return
	}
	end := sp.end
	if sp.style != 0 {
		end++ // closing quote
	}
	eol, nl := r.x.lineEnd(end)
	indent := strings.Repeat(" ", e.Content[0].Column-1)
	line := indent + "digest: " + d
	at, text := eol+len(nl), line+nl
	if nl == "" {
		text = r.x.newline() + line
	}
	r.splices = append(r.splices, splice{start: at, end: at, text: text})
	r.want.appends[e] = [2]string{"digest", d}
	o.Changes = append(o.Changes, Change{Line: last.Line + 1, Column: len(indent) + 1, Field: field, Old: "", New: d})
}
