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
// Matching follows PRODUCT.md ("Manifests") for an updated REPO:TAG@NEW:
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
// Files are read and written through an os.Root opened on the workspace, so
// no path, glob or symbolic link can reach outside it. Every file is
// validated before any file is written, and each write is atomic (temporary
// file in the same folder, fsync, rename) and keeps the mode bits.
package manifests
