package manifests

import (
	"encoding/json"
	"path"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/imageref"
)

// triggersAnnotation is OpenShift's image change trigger annotation.
const triggersAnnotation = "image.openshift.io/triggers"

// selection is what the trigger annotation says about one container.
type selection int

const (
	notGoverned selection = iota // no trigger for the updated image: the usual rules apply
	named                        // a trigger for the updated image names the container
	paused                       // only paused triggers for the updated image name it
	notNamed                     // triggers for the updated image exist but name other containers
)

// triggerSet holds the containers named by the triggers that follow the
// updated image.
type triggerSet struct {
	active bool
	// containers maps "list[index]" and "list[name=x]" to whether every
	// trigger naming it is paused.
	containers map[string]bool
}

type trigger struct {
	From struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"from"`
	FieldPath string          `json:"fieldPath"`
	Paused    json.RawMessage `json:"paused"`
}

// fieldPathRE matches the fieldPath forms OpenShift accepts for a
// container image: by index or by name.
var fieldPathRE = regexp.MustCompile(`(initContainers|containers|ephemeralContainers)\[(?:([0-9]+)|\?\(@\.name\s*==\s*(?:"([^"]*)"|'([^']*)')\))\]\.image$`)

// triggers reads the annotation of an object's metadata. Which triggers
// follow the updated image: an ImageStreamTag "stream:tag" whose stream is
// the last path component of the updated repository and whose tag is the
// updated tag (image streams live inside the cluster; cascade knows images
// by registry name, so the stream name and tag are what connect them), or a
// DockerImage whose reference tracks the updated image.
func (r *rewriter) triggers(meta *yaml.Node, prefix string) triggerSet {
	ann := mapGet(mapGet(meta, "annotations"), triggersAnnotation)
	if ann == nil || ann.Kind != yaml.ScalarNode {
		return triggerSet{}
	}
	set, err := parseTriggers(ann.Value, r.image)
	if err != nil {
		r.skip(ann, prefix+"metadata.annotations["+triggersAnnotation+"]", "", "annotation is not a JSON list of triggers; ignored: "+err.Error())
		return triggerSet{}
	}
	return set
}

// parseTriggers reads the annotation's value: which containers the
// triggers that follow image name, and whether they are paused.
func parseTriggers(value string, image imageref.Ref) (triggerSet, error) {
	var list []trigger
	if err := json.Unmarshal([]byte(value), &list); err != nil {
		return triggerSet{}, err
	}
	set := triggerSet{containers: map[string]bool{}}
	for _, t := range list {
		if !triggerFollows(t, image) {
			continue
		}
		set.active = true
		m := fieldPathRE.FindStringSubmatch(t.FieldPath)
		if m == nil {
			continue
		}
		key := m[1] + "[" + m[2] + "]"
		if m[2] == "" {
			key = m[1] + "[name=" + m[3] + m[4] + "]"
		}
		p := isPaused(t.Paused)
		if prev, seen := set.containers[key]; seen {
			p = p && prev
		}
		set.containers[key] = p
	}
	return set, nil
}

func triggerFollows(t trigger, image imageref.Ref) bool {
	switch t.From.Kind {
	case "ImageStreamTag":
		stream, tag, ok := strings.Cut(t.From.Name, ":")
		return ok && path.Base(stream) == path.Base(image.Repository) && tag == image.Tag
	case "DockerImage":
		ref, err := imageref.Parse(t.From.Name)
		return err == nil && ref.SameRepository(image) && ref.EffectiveTag() == image.Tag
	}
	return false
}

// isPaused accepts paused as a JSON bool or the string "true".
func isPaused(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		b, _ = strconv.ParseBool(s)
		return b
	}
	return false
}

func (s triggerSet) lookup(list string, index int, name string) selection {
	if !s.active {
		return notGoverned
	}
	p, ok := s.containers[list+"["+strconv.Itoa(index)+"]"]
	if name != "" {
		if pn, okn := s.containers[list+"[name="+name+"]"]; okn {
			p, ok = pn && (p || !ok), true
		}
	}
	switch {
	case !ok:
		return notNamed
	case p:
		return paused
	}
	return named
}

// triggered pins a container named by a trigger for the updated image. A
// reference that tracks the image is pinned as usual. A blank value, or one
// naming the same stream and tag under another registry (the cluster's
// internal registry, a short name), is set to the updated image, as
// OpenShift's trigger controller would. Anything else is reported.
func (r *rewriter) triggered(o *ObjectResult, field string, img *yaml.Node) {
	if img.Kind != yaml.ScalarNode {
		return
	}
	if r.ignored(img) {
		r.skip(img, field, img.Value, "marked "+ignoreMarker)
		return
	}
	ref, err := imageref.Parse(img.Value)
	if err == nil && ref.SameRepository(r.image) {
		r.pinRef(o, field, img)
		return
	}
	if v, ok := triggeredValue(img.Value, r.image); ok {
		r.setScalar(o, field, img, v)
		return
	}
	r.skip(img, field, img.Value, "named by an image.openshift.io/triggers entry for "+r.image.Short()+" but holds another image; not rewritten")
}

// triggeredValue is what a container named by a trigger for image and
// holding value (not a reference of image's repository) is set to: image
// at its digest when value is blank or names the same stream and tag under
// another registry, as OpenShift's trigger controller would; false for
// anything else.
func triggeredValue(value string, image imageref.Ref) (string, bool) {
	ref, err := imageref.Parse(value)
	switch {
	case strings.TrimSpace(value) == "":
	case err == nil && path.Base(ref.Repository) == path.Base(image.Repository) && (ref.Tag == "" && ref.Digest != "" || ref.EffectiveTag() == image.Tag):
	default:
		return "", false
	}
	return image.WithDigest(image.Digest), true
}
