// Package rollout is the cluster target: it moves live workloads that
// follow the updated image to its new digest, as OpenShift's image change
// triggers do inside OpenShift, on any Kubernetes cluster and at push time.
//
// For an updated REPO:TAG@NEW it lists, page by page (never one GET per
// object), the Deployments, StatefulSets, DaemonSets and CronJobs (and, where
// the apps.openshift.io/v1 API exists, DeploymentConfigs) of the configured
// namespaces, and looks at every container and initContainer whose image is
// a reference of REPO. The rules are those of package manifests for files:
// REPO:TAG and REPO:TAG@old become REPO:TAG@NEW, a digest-only REPO@old
// becomes REPO@NEW, REPO alone follows latest, another tag is left alone and
// reported.
//
// A workload is moved only when it opted in:
//
//   - the image.openshift.io/triggers annotation, read exactly as for
//     manifests: a trigger following the updated image (an ImageStreamTag
//     whose stream is REPO's last path component and whose tag is TAG, or a
//     DockerImage tracking REPO:TAG) names the container by fieldPath, by
//     index or by name; a paused trigger leaves it alone;
//   - or the annotation cascade.dev/follow (FollowAnnotation): "true" for
//     every container that tracks the updated tag, or a comma-separated
//     list of container names.
//
// Others are reported as "would roll if opted in". An object that a GitOps
// controller owns (Argo CD's tracking label or annotation, Flux's
// kustomize/helm labels, or one of their field managers in managedFields) is
// skipped and reported: its source of truth is a repository, which is what
// the files target (cascade update) is for.
//
// A change is a server-side apply by a field manager of its own per updated
// repository, "cascade:REGISTRY/REPOSITORY" (FieldManager), whose body holds
// only the names and images of the object's containers that reference the
// repository: the opted-in ones at the new digest, the others at the value
// they hold (so that the manager never drops a field it owned on an earlier
// run). The apply is forced: the opt-in annotation is the owner's consent
// that cascade sets those image fields, and the manager that set them before
// (kubectl, Helm, a CI job) would otherwise make the first apply answer 409.
// GitOps-owned objects are skipped before, so a force never fights a
// controller. Plan makes every apply with dryRun=All first: the API server
// validates each object and checks each permission before the first real
// change. A workload already at the digest is not applied again ("current"),
// which is what makes a re-run a no-op.
package rollout
