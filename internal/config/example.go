package config

import (
	_ "embed"
	"slices"
)

//go:embed example.yaml
var example []byte

// Example returns the sample cascade.yaml of docs/contract.md: the seed scenario
// (httpd-base and the apps built on it) with one image per rebuild kind.
// It parses and validates; the caller owns the returned copy.
func Example() []byte { return slices.Clone(example) }
