// Package testenv starts the real components that integration tests run
// against: a distribution registry (Debian docker-registry, distribution 2.8)
// on loopback and buildah with private storage, plus a tiny offline stand-in
// for a base image such as centos:7. It is test-support code: import it only
// from _test.go files.
//
// Every component is a child process of the test, bound to 127.0.0.1, with its
// state under t.TempDir(); cleanup ends exactly the processes started here
// and removes their state.
//
// # Missing components
//
// [Require] finds a binary on PATH. When it is missing the test is skipped
// with an install hint, except in CI (env CI=true), where it fails: a skipped
// real-component test is a green light that proves nothing.
//
// # Installing the tools
//
// On Debian 12, as root (CI runs this before go test):
//
//	.ci/install-deps
//
// It installs, only when absent (apt-get update at most once):
// docker-registry, buildah, busybox-static (a static /bin/busybox, the only
// file of the stand-in base image) and ca-certificates. uidmap comes in as a
// dependency of buildah; fuse-overlayfs, an OCI runtime and slirp4netns are
// not needed because builds use the vfs storage driver and chroot isolation.
//
// # Kubernetes and Tekton
//
// [StartKube] runs etcd (Debian etcd-server) and kube-apiserver,
// [Kube.StartControllerManager] kube-controller-manager's workload
// controllers against it (Deployments get ReplicaSets, StatefulSets and
// DaemonSets ControllerRevisions, CronJobs Jobs; pods stay Pending), and
// [StartTekton] Tekton's controller; .ci/build-tools (run by
// .ci/install-deps) builds them from tools/go.mod into
// $HOME/.cache/cascade-tools, once per version.
//
// # Running
//
//	go test -race ./internal/testenv/...
//	CI=true go test ./...        # missing tools fail instead of skipping
//
// Buildah runs as root with --isolation chroot and --storage-driver vfs:
// no user namespaces, FUSE, mounts or OCI runtime are needed (in this
// sandbox --isolation oci cannot start a container at all). Each Buildah
// also gets its own storage.conf, registries.conf (no unqualified search),
// containers.conf, TMPDIR and an insecureAcceptAnything --signature-policy,
// and BUILDAH_*, CONTAINERS_* and STORAGE_* variables from the environment
// are dropped, so the host's configuration cannot change a build. The proof
// test (TestBuildahRecordsBaseDigest) builds and pushes four images in about
// six seconds.
//
// # What buildah records
//
// buildah 1.28 (Debian 12) writes org.opencontainers.image.base.digest and
// org.opencontainers.image.base.name as manifest annotations on OCI-format
// images (not with --format docker, and never as config labels; the only
// label it sets is io.buildah.version). base.digest is the digest of the base
// manifest as stored in the registry, the same value `buildah push
// --digestfile` reported when the base was pushed; base.name is the FROM
// reference as written. Builds here use --pull=always, so the base is always
// read from the registry and never from a locally built copy whose
// (uncompressed) manifest digest differs from the pushed one.
package testenv
