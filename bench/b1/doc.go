// Package b1 is benchmark B1 of docs/benchmarks.md: pinning a new digest in a
// generated tree of YAML manifests, cascade side by side with the peers a
// team would otherwise use (sed -i, a yq -i loop, kustomize edit set image).
//
// Generate writes the workload deterministically from a seed: the pristine
// tree and, beside it, the tree as it must look after a correct update, so
// every tool's output is judged against the same expectation. Run copies the
// pristine tree for every run (the copy is not timed), runs the tools
// alternately, measures wall time and peak RSS, and compares each output
// with the expectation byte by byte. Table renders the medians, the ratios
// and the targets.
package b1
