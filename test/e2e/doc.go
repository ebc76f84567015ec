// Package e2e holds cascade's end-to-end suite: the seed scenario (the
// OpenShift "Image Stream" lab) with a deploy repository, again with live
// Deployments rolled by the cluster target, and again where the apps declare
// themselves (a Tekton Pipeline's annotations, a repository's topic), and a
// multi-arch rebase chain, run on real components — a distribution registry,
// buildah builds, etcd and kube-apiserver with Tekton's controller or
// kube-controller-manager, a real Actions runner (nektos/act) and a bare git
// remote — with cascade driven through its command line exactly as a
// pipeline step would run it.
//
// Run it with
//
//	go test ./test/e2e/ -v -count=1      # or: make e2e
//
// The components come from .ci/install-deps (Debian packages) and the tools
// cache that .ci/build-tools and .ci/build-gh-tools fill
// ($CASCADE_TOOLS_CACHE, default $HOME/.cache/cascade-tools). Under CI=true a
// missing component fails the suite; elsewhere the tests skip with a hint.
//
// Each step is logged with the time since the test started and what the
// step took, so a -v run doubles as the suite's timing report.
package e2e
