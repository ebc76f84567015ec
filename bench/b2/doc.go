// Package b2 is benchmark B2 of docs/benchmarks.md, and the plan half of B5:
// `cascade plan` on a generated image stream in a real registry 20 ms away,
// side by side with a sequential `crane manifest` loop and against the
// round-trip limit ⌈requests ÷ concurrency⌉ × latency.
//
// Generate builds the stream deterministically from a seed: a 2-platform
// base index and dependents in tiers, each built on one image of the tier
// above, a share of them 2-platform indexes, each platform manifest
// carrying the org.opencontainers.image.base.name/digest annotations
// buildah writes — some naming the parent's build in the registry now
// (current), some an older one (stale) — and what a correct plan says of
// each (its Want). Setup runs Debian's docker-registry with token auth,
// fills it straight (not through the proxy), and puts faultproxy in front:
// the references name the proxy, which adds the latency and logs every
// request. Run times the tools alternately and classifies each run's
// requests (ping, token, HEAD or GET manifest, blob; per repository).
// Report renders the table and the verdicts.
package b2
