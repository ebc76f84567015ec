// Package manifests pins the new digest of an updated image in deployment
// manifests: Kubernetes workloads (in multi-document files and List kinds),
// kustomization images, Helm values, the OpenShift image.openshift.io/triggers
// annotation and, through package dockerfile, Dockerfile FROM lines.
//
// It never re-marshals YAML. Values are located with go.yaml.in/yaml/v3 node
// positions and only their bytes are replaced in the original file, so
// comments, blank lines, key order, quoting, CRLF line ends, a byte order
// mark, anchors and a missing final newline all survive. The result is parsed
// again and compared node by node with the original: exactly the intended
// scalar values may differ (and, for a kustomization entry without a digest,
// exactly one appended "digest" key). Anything else is an error and the file
// is left untouched.
//
// Matching follows docs/contract.md ("Manifests") for an updated REPO:TAG@NEW:
//
//   - REPO:TAG and REPO:TAG@old become REPO:TAG@NEW;
//   - a digest-only pin REPO@old becomes REPO@NEW;
//   - REPO without tag counts as REPO:latest and, when TAG is latest, becomes
//     REPO:latest@NEW (the tag is written out so that the pin keeps following
//     "latest" only, instead of turning into a digest-only pin);
//   - REPO:OTHER is left alone and reported as skipped;
//   - other repositories are never touched, and values that are not image
//     references are ignored;
//   - the name keeps its original spelling.
//
// Formats, per YAML document:
//
//   - Kubernetes workloads (Pod, PodTemplate, Deployment, StatefulSet,
//     DaemonSet, ReplicaSet, Job, CronJob, ReplicationController, OpenShift
//     DeploymentConfig, of Kubernetes' own API groups): the image of
//     containers, initContainers and ephemeralContainers, and the reference
//     of image volumes (volumes[].image.reference); List kinds item by
//     item. Every other kind of Kubernetes' own API groups (ConfigMap,
//     Secret, Service, Ingress, …) has no pod template and is never edited:
//     an "image" key in it is data, reported as skipped when it names the
//     repository. Kinds of other groups (custom resources such as Tekton
//     Tasks, Knative Services or Argo Rollouts) and documents without
//     kind: every "image" key at any depth, as a reference when it holds a
//     string, as a Helm image when it holds a mapping with "repository".
//   - The image.openshift.io/triggers annotation: when one of its triggers
//     follows the updated image (an ImageStreamTag "stream:tag" whose stream
//     is the last path component of the updated repository and whose tag is
//     the updated tag), only the containers its fieldPath names (by index or
//     by name) are pinned; a paused trigger (true or "true") leaves its
//     container alone. A named container holding a blank value or the same
//     stream and tag under another registry is set to the updated image, as
//     OpenShift's trigger controller would.
//   - Kustomizations (kustomization.yaml, kustomization.yml, Kustomization,
//     or kind: Kustomization): see kustomization for the rules; the one
//     insertion cascade ever makes is a "digest:" line in an images entry.
//   - Helm values: DefaultHelmPaths or Options.Helm; see helmImage.
//   - Compose files (a "services" mapping whose services have "image" or
//     "build"): services.<name>.image, by the generic rule, which also pins
//     an image key of an extension field (x-…) that services merge.
//   - Aliases are never expanded: an image field that is an alias, or that a
//     "<<" merge supplies, is reported as skipped; an anchored value is
//     pinned where it is defined when that place is itself an image field.
//   - A "# cascade:ignore" comment on a value's line leaves it alone.
//   - Dockerfiles and Containerfiles go to package dockerfile.
//
// In the default file set (no paths given) a YAML file that cannot name the
// updated image (its repository's last path component does not occur in it
// as a whole component, and it holds no escape) is not parsed, neither
// changed nor reported. The default file set is a search: a file in it that
// cannot be read as a manifest (it does not parse, has a duplicate key, is
// not UTF-8, or is over a parse limit) is skipped and reported with its
// reason, and does not change the run's outcome. Explicitly selected files
// are always parsed, and one that cannot be is an error; whenever a file is
// an error, no file is written.
//
// Files are read and written through an os.Root opened on the workspace, so
// no path, glob or symbolic link can reach outside it. A symbolic link inside
// it, to a file or a folder, is never followed nor written through; it is
// reported as skipped, saying whether its target is processed under its own
// path. Every file is
// validated before any file is written, and each write is atomic (temporary
// file in the same folder, fsync, rename) and keeps the mode bits.
package manifests
