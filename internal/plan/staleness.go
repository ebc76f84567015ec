package plan

import (
	"fmt"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

// Status is the staleness verdict for a dependent.
type Status string

// The verdicts of docs/contract.md ("Staleness").
const (
	Stale   Status = "stale"
	Current Status = "current"
	Unknown Status = "unknown"
)

// Evidence names what a verdict rests on, strongest first.
type Evidence string

// Evidence kinds, in the order of docs/contract.md ("Staleness").
const (
	EvidenceAnnotation Evidence = "annotation" // manifest annotations base.digest/base.name
	EvidenceLabel      Evidence = "label"      // the same keys as config labels
	EvidenceLayers     Evidence = "layers"     // the base's layers are a prefix of the image's
	EvidenceDockerfile Evidence = "dockerfile" // FROM base@sha256:… in the Dockerfile
	EvidenceTransitive Evidence = "transitive" // a base of it in the cascade will be rebuilt
	EvidenceNone       Evidence = "none"       // nothing to go on
	EvidenceMissing    Evidence = "not-found"  // the image is not in the registry
	EvidenceError      Evidence = "error"      // the registry could not be read
)

// Base is what is known of the image a dependent is compared against: the
// updated image at its new digest, or a dependent's base within the cascade.
type Base struct {
	Ref    imageref.Ref
	Digest imageref.Digest
	// Index reports whether Digest is an image index (from the HEAD
	// media type or the inspected manifest).
	Index bool
	// Detail is the inspected image, nil when only the digest is known.
	Detail *registry.Image
}

// Verdict is the decision for one image (or one platform of it).
type Verdict struct {
	Status   Status
	Evidence Evidence
	Reason   string
	// BuiltOn is the base digest the evidence names, when it names one.
	BuiltOn imageref.Digest
}

// NeedsDetail reports whether deciding dep against base requires base's
// manifest (its platforms or layers) rather than just its digest. The engine
// uses it to fetch the updated image's manifest only when it must.
func NeedsDetail(base Base, dep *registry.Image) bool {
	if base.Detail != nil || dep == nil {
		return false
	}
	if dep.Index {
		if d, _, ok := recorded(dep.Manifest, base.Ref); ok && d == base.Digest {
			return false
		}
		for _, p := range dep.Platforms {
			if needsDetail(base, p.Manifest) {
				return true
			}
		}
		return false
	}
	return needsDetail(base, dep.Manifest)
}

func needsDetail(base Base, m registry.Manifest) bool {
	d, _, ok := recorded(m, base.Ref)
	if !ok {
		return true // only the layer-prefix test is left
	}
	// A digest other than the index's may be one of its platform manifests.
	return d != base.Digest && base.Index
}

// recorded returns the base digest an image records for base's repository,
// from its annotations or, failing that, its labels.
func recorded(m registry.Manifest, baseRef imageref.Ref) (imageref.Digest, Evidence, bool) {
	if d, ok := baseDigestIn(m.Annotations, baseRef); ok {
		return d, EvidenceAnnotation, true
	}
	if d, ok := baseDigestIn(m.Labels, baseRef); ok {
		return d, EvidenceLabel, true
	}
	return "", "", false
}

// baseDigestIn reads base.digest from kv when base.name (if present) names
// the base's repository. A base.name for another repository means the keys
// describe another base (say, the final stage of a multi-stage build).
func baseDigestIn(kv map[string]string, baseRef imageref.Ref) (imageref.Digest, bool) {
	raw, ok := kv[registry.BaseDigestKey]
	if !ok {
		return "", false
	}
	d, err := imageref.ParseDigest(raw)
	if err != nil {
		return "", false
	}
	if n, ok := kv[registry.BaseNameKey]; ok && n != "" {
		r, err := imageref.Parse(n)
		if err != nil || !r.SameRepository(baseRef) {
			return "", false
		}
	}
	return d, true
}

// Decide compares one dependent image against its base. pin is the base
// reference as declared in the dependent's Dockerfile or config; its digest,
// if any, is the weakest evidence.
func Decide(base Base, dep *registry.Image, pin imageref.Ref) (Verdict, []PlatformVerdict) {
	if dep.Index || (base.Detail != nil && base.Detail.Index) {
		return decideMulti(base, dep, pin)
	}
	return decideOne(base, "", dep.Manifest, pin), nil
}

// PlatformVerdict is the verdict for one platform of a multi-arch image.
type PlatformVerdict struct {
	Platform string
	Digest   imageref.Digest
	Verdict
}

// decideOne decides a single manifest. platform is "" for a single-platform
// image; otherwise the base is compared on that platform only (or its index).
func decideOne(base Base, platform string, m registry.Manifest, pin imageref.Ref) Verdict {
	// 1 and 2: annotations, then labels.
	if d, ev, ok := recorded(m, base.Ref); ok {
		return compareDigest(base, platform, d, ev)
	}
	// 3: layer prefix.
	if v, ok := compareLayers(base, platform, m.Layers); ok {
		return v
	}
	// 4: the Dockerfile's digest pin.
	if pin.Digest != "" {
		return compareDigest(base, platform, pin.Digest, EvidenceDockerfile)
	}
	return Verdict{Status: Unknown, Evidence: EvidenceNone,
		Reason: "no base annotation or label, no layers shared with the base, no digest pin"}
}

// compareDigest compares a recorded base digest with the base's new digest:
// the index digest, or — for the same platform only — that platform's
// manifest digest. A digest of another platform's manifest is never taken
// for this one.
func compareDigest(base Base, platform string, d imageref.Digest, ev Evidence) Verdict {
	if d == base.Digest {
		return Verdict{Status: Current, Evidence: ev, BuiltOn: d, Reason: "built on " + describe(base, "") + " " + d.Short()}
	}
	if base.Detail != nil && base.Detail.Index {
		for _, p := range base.Detail.Platforms {
			if p.Digest != d {
				continue
			}
			if platform == "" || p.Platform == platform {
				return Verdict{Status: Current, Evidence: ev, BuiltOn: d, Reason: "built on " + describe(base, p.Platform) + " " + d.Short()}
			}
			return Verdict{Status: Stale, Evidence: ev, BuiltOn: d,
				Reason: fmt.Sprintf("built on the %s manifest of the base, not %s", p.Platform, platform)}
		}
	}
	return Verdict{Status: Stale, Evidence: ev, BuiltOn: d, Reason: "built on " + d.Short() + ", " + baseNow(base, platform)}
}

// baseNow says what the base is now, like with like: for one platform of
// a multi-arch base, that platform's manifest (and the index it is in);
// else the base's digest, named an index when it is one.
func baseNow(base Base, platform string) string {
	if platform != "" && base.Detail != nil && base.Detail.Index {
		for _, p := range base.Detail.Platforms {
			if p.Platform == platform {
				return fmt.Sprintf("the base's %s manifest is now %s (index %s)", platform, p.Digest.Short(), base.Digest.Short())
			}
		}
	}
	if base.Index || (base.Detail != nil && base.Detail.Index) {
		return "the base is now index " + base.Digest.Short()
	}
	return "base is now " + base.Digest.Short()
}

func describe(base Base, platform string) string {
	if platform != "" {
		return "the base's " + platform + " manifest"
	}
	return "the base"
}

// compareLayers applies the layer-prefix test: the base's layers all lead the
// image's → current; some leading layers shared but not all → stale (built on
// an older build of the same lineage); nothing shared → no evidence.
func compareLayers(base Base, platform string, layers []imageref.Digest) (Verdict, bool) {
	if base.Detail == nil || len(layers) == 0 {
		return Verdict{}, false
	}
	var candidates []registry.Platform
	if base.Detail.Index {
		for _, p := range base.Detail.Platforms {
			if platform == "" || p.Platform == platform {
				candidates = append(candidates, p)
			}
		}
	} else {
		candidates = []registry.Platform{{Digest: base.Digest, Manifest: base.Detail.Manifest}}
	}
	bestShared, bestOf := 0, 0
	for _, c := range candidates {
		n := sharedPrefix(c.Layers, layers)
		if n == len(c.Layers) && n > 0 {
			return Verdict{Status: Current, Evidence: EvidenceLayers, BuiltOn: c.Digest,
				Reason: fmt.Sprintf("its first %d layers are the base's layers", n)}, true
		}
		if n > bestShared {
			bestShared, bestOf = n, len(c.Layers)
		}
	}
	if bestShared > 0 {
		return Verdict{Status: Stale, Evidence: EvidenceLayers,
			Reason: fmt.Sprintf("shares only %d of the base's %d layers: built on an older base", bestShared, bestOf)}, true
	}
	return Verdict{}, false
}

func sharedPrefix(base, layers []imageref.Digest) int {
	n := 0
	for n < len(base) && n < len(layers) && base[n] == layers[n] {
		n++
	}
	return n
}

// decideMulti compares a multi-arch dependent (or a dependent of a
// multi-arch base) index to index and platform to platform.
func decideMulti(base Base, dep *registry.Image, pin imageref.Ref) (Verdict, []PlatformVerdict) {
	var pvs []PlatformVerdict
	if !dep.Index {
		// A single-platform image on a multi-arch base: its recorded
		// digest may be the index or any one platform manifest.
		return decideOne(base, "", dep.Manifest, pin), nil
	}
	// An index that itself records the base index digest.
	if d, ev, ok := recorded(dep.Manifest, base.Ref); ok && d == base.Digest {
		v := Verdict{Status: Current, Evidence: ev, BuiltOn: d, Reason: "index built on the base index " + d.Short()}
		for _, p := range dep.Platforms {
			pvs = append(pvs, PlatformVerdict{Platform: p.Platform, Digest: p.Digest, Verdict: v})
		}
		return v, pvs
	}
	for _, p := range dep.Platforms {
		v := decideOne(base, p.Platform, p.Manifest, pin)
		pvs = append(pvs, PlatformVerdict{Platform: p.Platform, Digest: p.Digest, Verdict: v})
	}
	return aggregate(pvs), pvs
}

// aggregate folds per-platform verdicts: any stale platform makes the image
// stale; all current makes it current; otherwise unknown.
func aggregate(pvs []PlatformVerdict) Verdict {
	if len(pvs) == 0 {
		return Verdict{Status: Unknown, Evidence: EvidenceNone, Reason: "index has no platform manifests"}
	}
	current := 0
	for _, p := range pvs {
		if p.Status == Stale {
			return Verdict{Status: Stale, Evidence: p.Evidence, BuiltOn: p.BuiltOn, Reason: p.Platform + ": " + p.Reason}
		}
		if p.Status == Current {
			current++
		}
	}
	if current == len(pvs) {
		return Verdict{Status: Current, Evidence: pvs[0].Evidence, Reason: fmt.Sprintf("all %d platforms built on the new base", len(pvs))}
	}
	for _, p := range pvs {
		if p.Status == Unknown {
			return Verdict{Status: Unknown, Evidence: p.Evidence, Reason: p.Platform + ": " + p.Reason}
		}
	}
	return pvs[0].Verdict
}
