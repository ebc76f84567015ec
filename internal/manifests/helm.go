package manifests

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/imageref"
)

// lookupPath follows a dotted key path from a mapping; nil when any step is
// missing or p is empty. Aliases are not followed.
func lookupPath(root *yaml.Node, p string) *yaml.Node {
	if p == "" {
		return nil
	}
	n := root
	for _, k := range strings.Split(p, ".") {
		if n = mapGet(n, k); n == nil {
			return nil
		}
	}
	return n
}

// helmImage pins a Helm values image given as separate registry,
// repository, tag and digest values (any but repository may be nil):
//
//   - with a digest key, the digest is set when the tag is the updated tag,
//     or when there is no tag and the digest is set (a digest-only pin);
//   - without a digest key, a tag equal to the updated tag (or already
//     TAG@sha256:old) becomes TAG@sha256:NEW, the form charts that
//     interpolate "repository:tag" understand;
//   - an empty or missing tag means the chart's appVersion decides, which
//     cascade cannot see: reported, not pinned; another tag is reported too.
func (r *rewriter) helmImage(o *ObjectResult, _ string, reg, repo, tag, dig *yaml.Node, paths HelmPaths) {
	if repo == nil || repo.Kind != yaml.ScalarNode || r.claimed[repo] {
		return
	}
	name := repo.Value
	if reg != nil && reg.Kind == yaml.ScalarNode && reg.Value != "" {
		name = strings.TrimSuffix(reg.Value, "/") + "/" + name
	}
	ref, err := imageref.Parse(name)
	if err != nil || ref.Tag != "" || ref.Digest != "" || !ref.SameRepository(r.image) {
		return
	}
	r.claimed[repo] = true
	r.formats["helm"] = true
	if tag != nil && tag.Kind != yaml.ScalarNode || dig != nil && dig.Kind != yaml.ScalarNode {
		r.skip(repo, paths.Repository, name, "tag or digest is not a plain value (an alias or a collection); not rewritten")
		return
	}
	var tagVal, tagDigest, digVal string
	if tag != nil {
		tagVal, tagDigest, _ = strings.Cut(tag.Value, "@")
	}
	if dig != nil {
		digVal = dig.Value
	}
	shown := name
	if tagVal != "" {
		shown += ":" + tagVal
	}
	if r.ignored(repo, reg, tag, dig) {
		r.skip(repo, paths.Repository, shown, "marked "+ignoreMarker)
		return
	}
	d := string(r.image.Digest)
	switch {
	case tagVal != "" && tagVal != r.image.Tag:
		r.skip(tagOr(tag, repo), paths.Tag, shown, fmt.Sprintf("tag %q is not the updated tag %q", tagVal, r.image.Tag))
	case tagVal == "" && digVal == "" && tagDigest == "":
		r.skip(tagOr(tag, repo), paths.Tag, shown, "no tag: the chart's appVersion decides it; not pinned")
	case dig != nil:
		r.setScalar(o, paths.Digest, dig, d)
		if tagDigest != "" && tagVal != "" {
			r.setScalar(o, paths.Tag, tag, tagVal+"@"+d)
		}
	case tagVal != "":
		r.setScalar(o, paths.Tag, tag, tagVal+"@"+d)
	default:
		r.skip(tagOr(tag, repo), paths.Tag, shown, "tag holds only a digest and there is no digest key; not rewritten")
	}
}

func tagOr(tag, repo *yaml.Node) *yaml.Node {
	if tag != nil {
		return tag
	}
	return repo
}
