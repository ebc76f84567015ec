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
// when set, else name) is the updated repository:
//
//   - with newTag equal to the updated tag, or without newTag but with a
//     digest (a digest-only pin), digest is set to the new digest;
//   - an entry without a digest key gets one line "digest: sha256:…" after
//     its last key, with the entry's indentation (the only insertion cascade
//     makes); in a flow mapping it is reported instead;
//   - without newTag and digest the workloads' own tags decide, which
//     cascade cannot see here: reported, not pinned; another newTag too.
//
// newName and newTag are never changed.
func (r *rewriter) kustomization(root *yaml.Node) {
	o := &ObjectResult{Kind: "Kustomization", Name: scalarValue(mapGet(root, "metadata"), "name")}
	defer r.addObject(o)
	images := mapGet(root, "images")
	if images == nil || images.Kind != yaml.SequenceNode {
		return
	}
	for i, e := range images.Content {
		if e.Kind != yaml.MappingNode {
			continue
		}
		name, newName, newTag, dig := mapGet(e, "name"), mapGet(e, "newName"), mapGet(e, "newTag"), mapGet(e, "digest")
		if name == nil || name.Kind != yaml.ScalarNode {
			continue
		}
		repo := name.Value
		if newName != nil && newName.Kind == yaml.ScalarNode && newName.Value != "" {
			repo = newName.Value
		}
		ref, err := imageref.Parse(repo)
		if err != nil || ref.Tag != "" || ref.Digest != "" || !ref.SameRepository(r.image) {
			continue
		}
		field := fmt.Sprintf("images[%d].digest", i)
		var tag string
		if newTag != nil {
			if newTag.Kind != yaml.ScalarNode {
				continue
			}
			tag = newTag.Value
		}
		if dig != nil && dig.Kind != yaml.ScalarNode {
			r.skip(dig, field, repo, "digest is not a plain value; not rewritten")
			continue
		}
		shown := repo
		if tag != "" {
			shown += ":" + tag
		}
		if r.ignored(name, newName, newTag, dig) {
			r.skip(name, field, shown, "marked "+ignoreMarker)
			continue
		}
		switch {
		case tag != "" && tag != r.image.Tag:
			r.skip(newTag, field, shown, fmt.Sprintf("newTag %q is not the updated tag %q", tag, r.image.Tag))
			continue
		case tag == "" && (dig == nil || dig.Value == ""):
			r.skip(name, field, shown, "no newTag: the workloads' tags decide; not pinned")
			continue
		}
		d := string(r.image.Digest)
		if dig != nil {
			r.setScalar(o, field, dig, d)
			continue
		}
		r.insertDigest(o, field, e, shown)
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
