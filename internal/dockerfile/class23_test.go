package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

// TestClass2_WholeTagFromARG: a reference whose whole tag comes from an ARG
// (FROM rust:${VARIANT}) is pinned like one whose tag ends in literal text
// (FROM node:${NODE_VERSION}-alpine): the digest is appended to the
// reference in its own instruction, the ARG is left alone. Where the last
// byte comes from does not matter; what the reference expands to does.
func TestClass2_WholeTagFromARG(t *testing.T) {
	t.Parallel()
	const d = "@sha256:" + newHex
	tests := []struct {
		name, image, src, want string
		skips                  []Skip
	}{
		{
			name:  "whole tag from an ARG",
			image: "rust:1.60.0-bullseye",
			src:   "ARG VARIANT=1.60.0-bullseye\nFROM rust:${VARIANT}\n",
			want:  "ARG VARIANT=1.60.0-bullseye\nFROM rust:${VARIANT}" + d + "\n",
		},
		{
			name:  "tag ending in literal text",
			image: "node:18-alpine",
			src:   "ARG NODE_VERSION=18\nFROM node:${NODE_VERSION}-alpine AS build\n",
			want:  "ARG NODE_VERSION=18\nFROM node:${NODE_VERSION}-alpine" + d + " AS build\n",
		},
		{
			name:  "plain $VAR form, with a platform flag",
			image: "mcr.microsoft.com/devcontainers/python:3.12",
			src:   "ARG VARIANT=3.12\nFROM --platform=$BUILDPLATFORM mcr.microsoft.com/devcontainers/python:$VARIANT\n",
			want:  "ARG VARIANT=3.12\nFROM --platform=$BUILDPLATFORM mcr.microsoft.com/devcontainers/python:$VARIANT" + d + "\n",
		},
		{
			name:  "repository and tag from two ARGs",
			image: "golang:1.22",
			src:   "ARG IMAGE=golang\nARG GO_VERSION=1.22\nFROM ${IMAGE}:${GO_VERSION}\n",
			want:  "ARG IMAGE=golang\nARG GO_VERSION=1.22\nFROM ${IMAGE}:${GO_VERSION}" + d + "\n",
		},
		{
			name:  "the ARG also feeds another image: each reference decides alone",
			image: "rust:1.60.0-bullseye",
			src:   "ARG VARIANT=1.60.0-bullseye\nFROM rust:${VARIANT} AS build\nFROM debian:${VARIANT}\n",
			want:  "ARG VARIANT=1.60.0-bullseye\nFROM rust:${VARIANT}" + d + " AS build\nFROM debian:${VARIANT}\n",
		},
		{
			name:  "a default with another tag is skipped with the expanded tag",
			image: "rust:1.61.0-bullseye",
			src:   "ARG VARIANT=1.60.0-bullseye\nFROM rust:${VARIANT}\n",
			want:  "ARG VARIANT=1.60.0-bullseye\nFROM rust:${VARIANT}\n",
			skips: []Skip{{Line: 2, Ref: "rust:1.60.0-bullseye", Reason: "tag 1.60.0-bullseye is not the updated tag 1.61.0-bullseye"}},
		},
		{
			name:  "COPY --from with the tag from a stage ARG",
			image: "rust:1.60",
			src:   "FROM scratch\nARG V=1.60\nCOPY --from=rust:${V} /usr/local/cargo /cargo\n",
			want:  "FROM scratch\nARG V=1.60\nCOPY --from=rust:${V}" + d + " /usr/local/cargo /cargo\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, skips := checkPin(t, []byte(tt.src), imageref.MustParse(tt.image+d))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.skips, skips); diff != "" {
				t.Errorf("skips (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClass3_DigestHeldInARG: a digest pin held by an ARG moves when that
// ARG feeds only references to the updated image; when it also feeds
// anything else (another image, a RUN, a LABEL), it is reported with why.
func TestClass3_DigestHeldInARG(t *testing.T) {
	t.Parallel()
	const old = "sha256:" + oldHex
	const nd = "sha256:" + newHex
	tests := []struct {
		name, image, src, want string
		skips                  []Skip
	}{
		{
			name:  "digest-only ARG after @",
			image: "gcr.io/distroless/java17:nonroot",
			src:   "ARG sha_digest=" + old + "\nFROM gcr.io/distroless/java17@$sha_digest\n",
			want:  "ARG sha_digest=" + nd + "\nFROM gcr.io/distroless/java17@$sha_digest\n",
		},
		{
			name:  "quoted @digest appended to a composed reference",
			image: "node:18-alpine",
			src:   "ARG NODE_VERSION=18\nARG NODE_IMAGE_HASH=\"@" + old + "\"\nFROM node:${NODE_VERSION}-alpine${NODE_IMAGE_HASH} AS deps\nFROM node:${NODE_VERSION}-alpine${NODE_IMAGE_HASH} AS run\n",
			want:  "ARG NODE_VERSION=18\nARG NODE_IMAGE_HASH=\"@" + nd + "\"\nFROM node:${NODE_VERSION}-alpine${NODE_IMAGE_HASH} AS deps\nFROM node:${NODE_VERSION}-alpine${NODE_IMAGE_HASH} AS run\n",
		},
		{
			name:  "digest ARG through another ARG",
			image: "node:18",
			src:   "ARG HASH=" + old + "\nARG BASE=node:18@${HASH}\nFROM ${BASE}\n",
			want:  "ARG HASH=" + nd + "\nARG BASE=node:18@${HASH}\nFROM ${BASE}\n",
		},
		{
			name:  "the ARG also feeds a RUN",
			image: "gcr.io/distroless/java17:nonroot",
			src:   "ARG sha_digest=" + old + "\nFROM gcr.io/distroless/java17@$sha_digest\nARG sha_digest\nRUN echo ${sha_digest} > /base\n",
			want:  "ARG sha_digest=" + old + "\nFROM gcr.io/distroless/java17@$sha_digest\nARG sha_digest\nRUN echo ${sha_digest} > /base\n",
			skips: []Skip{{Line: 2, Ref: "gcr.io/distroless/java17@" + old, Reason: "its digest is held by ARG sha_digest, which also feeds RUN on line 4, not only image references"}},
		},
		{
			name:  "the ARG also feeds another image",
			image: "node:18-alpine",
			src:   "ARG H=\"@" + old + "\"\nFROM node:18-alpine${H}\nFROM nginx:1.27${H}\n",
			want:  "ARG H=\"@" + old + "\"\nFROM node:18-alpine${H}\nFROM nginx:1.27${H}\n",
			skips: []Skip{{Line: 2, Ref: "node:18-alpine@" + old, Reason: `its bytes are shared with "nginx:1.27${H}" on line 3, which would change too`}},
		},
		{
			name:  "a comment naming the ARG is not a use",
			image: "gcr.io/distroless/java17:nonroot",
			src:   "ARG sha_digest=" + old + "\n# update $sha_digest with cascade\nFROM gcr.io/distroless/java17@$sha_digest\n",
			want:  "ARG sha_digest=" + nd + "\n# update $sha_digest with cascade\nFROM gcr.io/distroless/java17@$sha_digest\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			image := tt.image + "@" + nd
			got, _, skips := checkPin(t, []byte(tt.src), imageref.MustParse(image))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.skips, skips); diff != "" {
				t.Errorf("skips (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClass4_MalformedDigestReported: a reference to the updated
// repository with a malformed or non-sha256 digest is reported, not
// silently passed over; one of another repository is not.
func TestClass4_MalformedDigestReported(t *testing.T) {
	t.Parallel()
	sha512 := "sha512:" + strings.Repeat("c", 128)
	tests := []struct {
		name, src string
		skips     []Skip
	}{
		{"short sha256", "FROM postgres:11@sha256:abc\n", []Skip{{Line: 1, Ref: "postgres:11@sha256:abc", Reason: `digest "sha256:abc" is malformed (want sha256: and 64 lowercase hex digits); not pinned`}}},
		{"sha512", "FROM postgres:11@" + sha512 + "\n", []Skip{{Line: 1, Ref: "postgres:11@" + sha512, Reason: `digest "` + sha512 + `" is not a sha256 digest, the only kind cascade pins; not pinned`}}},
		{"another repository", "FROM mysql:8@sha256:abc\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, skips := checkPin(t, []byte(tt.src), imageref.MustParse("postgres:11@sha256:"+newHex))
			if string(got) != tt.src {
				t.Errorf("output changed: %q", got)
			}
			if diff := cmp.Diff(tt.skips, skips); diff != "" {
				t.Errorf("skips (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClass6_SyntaxDirective: the syntax parser directive names the
// BuildKit frontend image; it is pinned by the rules of a base, in place,
// and reported when it is not.
func TestClass6_SyntaxDirective(t *testing.T) {
	t.Parallel()
	const nd = "sha256:" + newHex
	const old = "sha256:" + oldHex
	tests := []struct {
		name, image, src, want string
		edits                  []Edit
		skips                  []Skip
	}{
		{
			name:  "tag",
			image: "docker/dockerfile:1",
			src:   "# syntax=docker/dockerfile:1\nFROM alpine:3\n",
			want:  "# syntax=docker/dockerfile:1@" + nd + "\nFROM alpine:3\n",
			edits: []Edit{{Line: 1, Offset: 9, Old: "docker/dockerfile:1", New: "docker/dockerfile:1@" + nd, Field: "syntax"}},
		},
		{
			name:  "old digest, spaces, and a stage of the same image",
			image: "docker/dockerfile:1.7",
			src:   "#  syntax = docker/dockerfile:1.7@" + old + "  \nFROM docker/dockerfile:1.7 AS frontend\n",
			want:  "#  syntax = docker/dockerfile:1.7@" + nd + "  \nFROM docker/dockerfile:1.7@" + nd + " AS frontend\n",
			edits: []Edit{
				{Line: 1, Offset: 12, Old: "docker/dockerfile:1.7@" + old, New: "docker/dockerfile:1.7@" + nd, Field: "syntax"},
				{Line: 2, Offset: len("#  syntax = docker/dockerfile:1.7@" + old + "  \nFROM "), Old: "docker/dockerfile:1.7", New: "docker/dockerfile:1.7@" + nd},
			},
		},
		{
			name:  "another tag",
			image: "docker/dockerfile:1.7",
			src:   "# syntax=docker/dockerfile:1\nFROM alpine:3\n",
			want:  "# syntax=docker/dockerfile:1\nFROM alpine:3\n",
			skips: []Skip{{Line: 1, Ref: "docker/dockerfile:1", Reason: "tag 1 is not the updated tag 1.7", Field: "syntax"}},
		},
		{
			name:  "not a directive once an instruction came",
			image: "docker/dockerfile:1",
			src:   "FROM alpine:3\n# syntax=docker/dockerfile:1\n",
			want:  "FROM alpine:3\n# syntax=docker/dockerfile:1\n",
		},
		{
			name:  "another frontend",
			image: "docker/dockerfile:1",
			src:   "# syntax=tonistiigi/dockerfile:runmount\nFROM alpine:3\n",
			want:  "# syntax=tonistiigi/dockerfile:runmount\nFROM alpine:3\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, edits, skips := checkPin(t, []byte(tt.src), imageref.MustParse(tt.image+"@"+nd))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.edits, edits); diff != "" {
				t.Errorf("edits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.skips, skips); diff != "" {
				t.Errorf("skips (-want +got):\n%s", diff)
			}
		})
	}
}
