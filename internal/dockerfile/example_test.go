package dockerfile_test

import (
	"fmt"

	"github.com/imagecascade/cascade/internal/dockerfile"
	"github.com/imagecascade/cascade/internal/imageref"
)

func ExampleParse() {
	src := []byte(`# syntax=docker/dockerfile:1
ARG BASE=registry.example.com/acme/httpd-base
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
RUN go build -o /app .
FROM ${BASE}:latest
COPY --from=build /app /app
COPY --from=nginx:1.25 /etc/nginx /etc/nginx
`)
	f, err := dockerfile.Parse(src, dockerfile.ParseOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range f.Bases {
		fmt.Printf("line %d %s %s (stage %d)\n", b.Line, b.Kind, b.Ref, b.Stage)
	}
	// Output:
	// line 3 from golang:1.22 (stage 0)
	// line 5 from registry.example.com/acme/httpd-base:latest (stage 1)
	// line 7 copy-from nginx:1.25 (stage 1)
}

func ExamplePin() {
	src := []byte("FROM registry.example.com/acme/httpd-base:latest AS base\r\n" +
		"FROM registry.example.com/acme/httpd-base:2.4\r\n")
	updated := imageref.MustParse("registry.example.com/acme/httpd-base:latest@sha256:" +
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	out, edits, skips, err := dockerfile.Pin(src, updated)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", out)
	for _, e := range edits {
		fmt.Printf("line %d: %s -> %s\n", e.Line, e.Old, e.New)
	}
	for _, s := range skips {
		fmt.Printf("line %d: skipped %s: %s\n", s.Line, s.Ref, s.Reason)
	}
	// Output:
	// "FROM registry.example.com/acme/httpd-base:latest@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa AS base\r\nFROM registry.example.com/acme/httpd-base:2.4\r\n"
	// line 1: registry.example.com/acme/httpd-base:latest -> registry.example.com/acme/httpd-base:latest@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
	// line 2: skipped registry.example.com/acme/httpd-base:2.4: tag 2.4 is not the updated tag latest
}
