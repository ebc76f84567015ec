package manifests

import (
	"fmt"

	"github.com/imagecascade/cascade/internal/imageref"
)

// The rules of this package for one image value, for objects that are not
// files: package rollout applies them to workloads read from a cluster, so
// that a live Deployment and its manifest are matched alike.

// TriggersAnnotation is OpenShift's image change trigger annotation.
const TriggersAnnotation = triggersAnnotation

// Selection is what an image.openshift.io/triggers annotation says about
// one container, for the updated image.
type Selection int

const (
	// NotGoverned: no trigger follows the updated image.
	NotGoverned Selection = Selection(notGoverned)
	// Named: a trigger for the updated image names the container.
	Named Selection = Selection(named)
	// Paused: only paused triggers for the updated image name it.
	Paused Selection = Selection(paused)
	// NotNamed: triggers for the updated image exist but name other
	// containers.
	NotNamed Selection = Selection(notNamed)
)

// Triggers are the parsed triggers of one object for one updated image.
type Triggers struct{ set triggerSet }

// ParseTriggers parses the value of an image.openshift.io/triggers
// annotation: which of its triggers follow image (see the package doc) and
// which containers they name, by index or by name.
func ParseTriggers(value string, image imageref.Ref) (Triggers, error) {
	set, err := parseTriggers(value, image)
	if err != nil {
		return Triggers{}, fmt.Errorf("annotation %s is not a JSON list of triggers: %w", triggersAnnotation, err)
	}
	return Triggers{set}, nil
}

// Select says what the triggers say about container index of list
// ("containers", "initContainers"), named name.
func (t Triggers) Select(list string, index int, name string) Selection {
	return Selection(t.set.lookup(list, index, name))
}

// Pin is the value a reference of image's repository is pinned to: "" and
// the reason when it is not (another tag, no tag when the updated tag is not
// latest). A reference already at image's digest pins to itself.
func Pin(ref, image imageref.Ref) (value, reason string) {
	return pinned(ref, image)
}

// TriggeredValue is what a container named by a trigger for image is set to
// when it holds value, a reference of another repository or none: image at
// its digest when value is blank or names the same stream and tag under
// another registry; false for anything else.
func TriggeredValue(value string, image imageref.Ref) (string, bool) {
	return triggeredValue(value, image)
}
