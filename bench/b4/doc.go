// Package b4 is benchmark B4 of docs/benchmarks.md: `cascade run` dispatching
// the rebuilds of N GitHub dependents (repository_dispatch) through the
// offline GitHub API emulator (internal/githubtest) with a latency on every
// request and GitHub's secondary rate limits enforced. The peer is GitHub's
// own guidance — mutations at least a second apart — so the bound is
// N × spacing, and no secondary-limit response may be provoked.
//
// Every run starts from a fresh world built before the clock starts (a
// registry holding the base at its new digest and the N stale dependents, a
// workspace with their cascade.yaml, an emulator holding their
// repositories), so no run sees another's cascade history. After the run the
// emulator says what it accepted, what it refused and how close together
// the mutations arrived.
package b4
